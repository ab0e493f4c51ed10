// Owns the built-in certificate authority of the webhook: generating a CA and a serving certificate
// (ECDSA P-256, WebCrypto through @peculiar/x509), and deciding when either must be renewed.
// Renewal policy (as cert-manager's default): renew when less than a third of the lifetime is left.
// A renewed CA is added in front of the old one in the trust bundle until the old one expires, so
// serving certificates of either CA stay trusted while replicas catch up.

import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509 from '@peculiar/x509';

export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** What the built-in mode keeps (in a Secret): the trust bundle, the CA key, and the serving pair. */
export interface CertificateBundle {
  /** PEM of the current CA first, then older CAs still valid. This is the webhooks' caBundle. */
  readonly caBundlePem: string;
  readonly caKeyPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface ServingNames {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

export interface Validity {
  /** Lifetime of a new CA. Default 5 years. */
  readonly caMs: number;
  /** Lifetime of a new serving certificate. Default 90 days. */
  readonly servingMs: number;
}

export const DEFAULT_VALIDITY: Validity = { caMs: 5 * 365 * 86_400_000, servingMs: 90 * 86_400_000 };

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** Back-dating absorbs small clock differences between us and the API server. */
const BACKDATE_MS = 5 * 60_000;

let library: Promise<typeof X509> | undefined;
/** @peculiar/x509 needs the Reflect metadata API (tsyringe) before it loads, hence the lazy import. */
function x509(): Promise<typeof X509> {
  library ??= (async () => {
    await import('reflect-metadata');
    const lib = await import('@peculiar/x509');
    lib.cryptoProvider.set(webcrypto as unknown as Parameters<typeof lib.cryptoProvider.set>[0]);
    return lib;
  })();
  return library;
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const lib = await x509();
  return lib.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function importKey(pem: string): Promise<webcrypto.CryptoKey> {
  const lib = await x509();
  const der = lib.PemConverter.decode(pem)[0];
  if (!der) throw new Error('no key in PEM');
  return webcrypto.subtle.importKey('pkcs8', der, EC_KEY, true, ['sign']);
}

export async function createCa(options: {
  now: number;
  validityMs: number;
  commonName?: string;
}): Promise<PemPair> {
  const lib = await x509();
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const cert = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [options.commonName ?? 'genops-webhook-ca'] }, { O: ['genops.ai'] }],
    notBefore: new Date(options.now - BACKDATE_MS),
    notAfter: new Date(options.now + options.validityMs),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      new lib.BasicConstraintsExtension(true, 0, true),
      new lib.KeyUsagesExtension(
        lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign | lib.KeyUsageFlags.digitalSignature,
        true,
      ),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

export async function issueServing(
  ca: PemPair,
  names: ServingNames,
  options: { now: number; validityMs: number },
): Promise<PemPair> {
  const lib = await x509();
  const caCert = new lib.X509Certificate(firstPem(ca.certPem));
  const caKey = await importKey(ca.keyPem);
  const caKeyId = caCert.getExtension(lib.SubjectKeyIdentifierExtension)?.keyId;
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const sans = [
    ...names.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...names.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [names.dnsNames[0] ?? names.ipAddresses[0] ?? 'genops-webhook'] }],
    issuer: caCert.subject,
    notBefore: new Date(options.now - BACKDATE_MS),
    notAfter: new Date(options.now + options.validityMs),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new lib.BasicConstraintsExtension(false, undefined, true),
      new lib.KeyUsagesExtension(
        lib.KeyUsageFlags.digitalSignature | lib.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth]),
      new lib.SubjectAlternativeNameExtension(sans),
      ...(caKeyId ? [new lib.AuthorityKeyIdentifierExtension(caKeyId)] : []),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** The PEM blocks of a bundle, in order. */
export function splitPem(bundle: string): string[] {
  return (
    bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((b) => b + '\n') ?? []
  );
}

function firstPem(bundle: string): string {
  const first = splitPem(bundle)[0];
  if (!first) throw new Error('no certificate in PEM');
  return first;
}

export interface CertificateInfo {
  readonly notBefore: number;
  readonly notAfter: number;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

export function inspect(certPem: string): CertificateInfo {
  const cert = new X509Certificate(firstPem(certPem));
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const part of (cert.subjectAltName ?? '').split(/,\s*/)) {
    if (part.startsWith('DNS:')) dnsNames.push(part.slice(4));
    else if (part.startsWith('IP Address:')) ipAddresses.push(part.slice(11));
  }
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo), dnsNames, ipAddresses };
}

/** True when less than a third of the certificate's lifetime is left (or it is not valid yet/any more). */
export function needsRenewal(certPem: string, now: number): boolean {
  const { notBefore, notAfter } = inspect(certPem);
  const renewAt = notAfter - (notAfter - notBefore) / 3;
  return now >= renewAt || now < notBefore - BACKDATE_MS;
}

function sameNames(info: CertificateInfo, want: ServingNames): boolean {
  const norm = (a: readonly string[]) => [...new Set(a)].sort().join(',');
  return norm(info.dnsNames) === norm(want.dnsNames) && norm(info.ipAddresses) === norm(want.ipAddresses);
}

function issuedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

function keyMatches(pair: PemPair): boolean {
  try {
    return new X509Certificate(pair.certPem).checkPrivateKey(createPrivateKey(pair.keyPem));
  } catch {
    return false;
  }
}

export type BundleChange = 'unchanged' | 'created' | 'ca-renewed' | 'serving-renewed' | 'ca-pruned';

/**
 * The bundle to use from now on, given the one stored (if any): creates, renews the CA, renews or reissues
 * the serving certificate (names changed, key mismatch, not from the current CA), and drops expired CAs.
 */
export async function ensureBundle(
  existing: CertificateBundle | undefined,
  names: ServingNames,
  now: number,
  validity: Validity = DEFAULT_VALIDITY,
): Promise<{ bundle: CertificateBundle; change: BundleChange }> {
  let cas: string[] = [];
  let caKeyPem = '';
  if (existing) {
    try {
      cas = splitPem(existing.caBundlePem).filter((pem) => inspect(pem).notAfter > now);
      caKeyPem = existing.caKeyPem;
      const current = cas[0];
      if (!current || !keyMatches({ certPem: current, keyPem: caKeyPem })) cas = [];
    } catch {
      cas = [];
    }
  }
  let change: BundleChange = 'unchanged';
  if (cas.length === 0) {
    const ca = await createCa({ now, validityMs: validity.caMs });
    cas = splitPem(ca.certPem);
    caKeyPem = ca.keyPem;
    change = 'created';
  } else if (needsRenewal(cas[0]!, now)) {
    const ca = await createCa({ now, validityMs: validity.caMs });
    cas = [...splitPem(ca.certPem), ...cas];
    caKeyPem = ca.keyPem;
    change = 'ca-renewed';
  }
  const caPem = cas[0]!;
  let serving: PemPair | undefined = existing
    ? { certPem: existing.certPem, keyPem: existing.keyPem }
    : undefined;
  const servingOk = (() => {
    if (change !== 'unchanged' || !serving) return false;
    try {
      return (
        !needsRenewal(serving.certPem, now) &&
        sameNames(inspect(serving.certPem), names) &&
        issuedBy(serving.certPem, caPem) &&
        keyMatches(serving)
      );
    } catch {
      return false;
    }
  })();
  if (!servingOk) {
    serving = await issueServing({ certPem: caPem, keyPem: caKeyPem }, names, {
      now,
      validityMs: validity.servingMs,
    });
    if (change === 'unchanged') change = 'serving-renewed';
  }
  const caBundlePem = cas.join('');
  if (change === 'unchanged' && existing && caBundlePem !== splitPem(existing.caBundlePem).join(''))
    change = 'ca-pruned';
  return { bundle: { caBundlePem, caKeyPem, certPem: serving!.certPem, keyPem: serving!.keyPem }, change };
}

/** Serving names for a URL host: an IP literal goes to the IP SANs, a name to the DNS SANs. */
export function namesForHost(host: string): ServingNames {
  const bare = host.replace(/^\[|\]$/g, '');
  return isIP(bare) ? { dnsNames: [], ipAddresses: [bare] } : { dnsNames: [bare], ipAddresses: [] };
}
