// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
// The `reflect-metadata` package provides it; when that package is not installed, this minimal
// stand-in covers the four functions tsyringe calls. Call installReflectMetadata() before loading @peculiar/x509.
type MetadataTarget = object;
type MetadataMap = Map<unknown, unknown>;

interface ReflectMetadataApi {
  getMetadata?: (key: unknown, target: MetadataTarget, property?: string | symbol) => unknown;
}

const reflect = Reflect as typeof Reflect & ReflectMetadataApi & Record<string, unknown>;

/** Makes sure `Reflect.getMetadata` and friends exist; idempotent. */
export async function installReflectMetadata(): Promise<void> {
  if (typeof reflect.getMetadata === 'function') return;
  // Not a dependency of the project: loaded only if present.
  const optionalPackage: string = 'reflect-metadata';
  try {
    await import(optionalPackage);
  } catch {
    installMinimalMetadata();
  }
}

function installMinimalMetadata(): void {
  const store = new WeakMap<MetadataTarget, Map<string | symbol | undefined, MetadataMap>>();
  const own = (target: MetadataTarget, property: string | symbol | undefined, create: boolean) => {
    let byProperty = store.get(target);
    if (!byProperty) {
      if (!create) return undefined;
      byProperty = new Map();
      store.set(target, byProperty);
    }
    let map = byProperty.get(property);
    if (!map && create) {
      map = new Map();
      byProperty.set(property, map);
    }
    return map;
  };
  const getOwnMetadata = (key: unknown, target: MetadataTarget, property?: string | symbol) =>
    own(target, property, false)?.get(key);
  const getMetadata = (key: unknown, target: MetadataTarget, property?: string | symbol): unknown => {
    for (let t: MetadataTarget | null = target; t; t = Object.getPrototypeOf(t) as MetadataTarget | null) {
      const map = own(t, property, false);
      if (map?.has(key)) return map.get(key);
    }
    return undefined;
  };
  const defineMetadata = (
    key: unknown,
    value: unknown,
    target: MetadataTarget,
    property?: string | symbol,
  ) => {
    own(target, property, true)!.set(key, value);
  };
  const metadata =
    (key: unknown, value: unknown) =>
    (target: MetadataTarget, property?: string | symbol): void =>
      defineMetadata(key, value, target, property);
  Object.assign(reflect, {
    getOwnMetadata,
    getMetadata,
    defineMetadata,
    metadata,
    hasMetadata: (key: unknown, target: MetadataTarget, property?: string | symbol) =>
      getMetadata(key, target, property) !== undefined,
  });
}
