// Certificates and keys for the test control plane: one CA, the API server's serving certificate,
// client certificates for each identity, and the service-account signing key pair. ECDSA P-256
// keeps generation in the milliseconds.
import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

// Loaded after the Reflect metadata API exists (@peculiar/x509 needs it): Node runs a CommonJS
// dependency while linking, before the importing module's earlier imports have run, so a static
// import would be too early.
await import('reflect-metadata');
const x509 = await import('@peculiar/x509');
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const VALIDITY_MS = 365 * 24 * 3600 * 1000;

/** A certificate and its private key, both PEM. */
export interface CertifiedKey {
  certPem: string;
  keyPem: string;
}

/** A client identity as the API server sees it: user name (CN) and groups (O). */
export interface ClientIdentity {
  user: string;
  groups: readonly string[];
}

export interface ControlPlanePki {
  ca: CertifiedKey;
  apiServerServing: CertifiedKey;
  /** Client certificates by identity name (the caller's keys). */
  clients: Record<string, CertifiedKey>;
  serviceAccount: { publicKeyPem: string; privateKeyPem: string };
}

export interface PkiOptions {
  /** DNS names and IPs the API server is reached by, besides the Kubernetes service names. */
  serverIps: readonly string[];
  serverDnsNames: readonly string[];
  clients: Record<string, ClientIdentity>;
}

type KeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;

async function newKeyPair(): Promise<KeyPair> {
  return await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function publicKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('spki', key);
  return x509.PemConverter.encode(der, 'PUBLIC KEY');
}

function validity(): { notBefore: Date; notAfter: Date } {
  // Back-date a little so a clock that is a few seconds off does not reject fresh certificates.
  const now = Date.now();
  return { notBefore: new Date(now - 3600 * 1000), notAfter: new Date(now + VALIDITY_MS) };
}

function serial(): string {
  // Positive, non-zero 16-byte serial.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

async function issue(
  ca: { cert: X509.X509Certificate; keys: KeyPair },
  subject: X509.JsonName,
  extensions: X509.Extension[],
): Promise<CertifiedKey> {
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: ca.cert.subject,
    ...validity(),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...extensions,
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Generates every certificate and key the control plane needs. */
export async function generatePki(options: PkiOptions): Promise<ControlPlanePki> {
  const caKeys = await newKeyPair();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: ['genops-testenv-ca'] }],
    ...validity(),
    signingAlgorithm: SIGNING,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const ca = { cert: caCert, keys: caKeys };

  const serverNames = [
    ...options.serverDnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...options.serverIps.map((value) => ({ type: 'ip' as const, value })),
  ];
  const apiServerServing = await issue(
    ca,
    [{ CN: ['kube-apiserver'] }],
    [
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(serverNames),
    ],
  );

  const clients: Record<string, CertifiedKey> = {};
  for (const [key, identity] of Object.entries(options.clients)) {
    const subject: X509.JsonName = [{ CN: [identity.user] }];
    if (identity.groups.length > 0) subject.push({ O: [...identity.groups] });
    clients[key] = await issue(ca, subject, [
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ]);
  }

  const saKeys = await newKeyPair();
  return {
    ca: { certPem: caCert.toString('pem'), keyPem: await privateKeyPem(caKeys.privateKey) },
    apiServerServing,
    clients,
    serviceAccount: {
      publicKeyPem: await publicKeyPem(saKeys.publicKey),
      privateKeyPem: await privateKeyPem(saKeys.privateKey),
    },
  };
}
