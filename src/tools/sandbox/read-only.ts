/**
 * Read-only storage grants (`access: [read]`), enforced on preview2-shim's `wasi:filesystem`
 * descriptors: preview2-shim opens any preopen read-write, so every descriptor reached from a read-only
 * preopen is remembered, and each call that would change the filesystem through one fails with the
 * WASI error `read-only`. Runs inside a tool's worker thread, whose module instance (and so whose
 * `Descriptor` class) is its own.
 */

/** The descriptor methods this guard wraps, with their arguments as the WIT declares them. */
interface DescriptorMethods {
  openAt: (this: object, pathFlags: unknown, path: string, openFlags: OpenFlags, flags: DescriptorFlags) => object;
  linkAt: (this: object, oldPathFlags: unknown, oldPath: string, newDescriptor: object, newPath: string) => void;
  renameAt: (this: object, oldPath: string, newDescriptor: object, newPath: string) => void;
}

interface OpenFlags {
  create?: boolean;
  truncate?: boolean;
}

interface DescriptorFlags {
  write?: boolean;
  mutateDirectory?: boolean;
}

/**
 * Calls that change the file or folder they are called on (or a path under it). `linkAt` and `renameAt`
 * are refused when either side is read-only: a hard link out of a read-only folder would make its file
 * writable through the link.
 */
const MUTATING = [
  'writeViaStream',
  'appendViaStream',
  'setSize',
  'setTimes',
  'write',
  'createDirectoryAt',
  'setTimesAt',
  'removeDirectoryAt',
  'symlinkAt',
  'unlinkFileAt',
] as const;

/** The WASI `error-code` of a refused change; preview2-shim throws codes as strings, as jco lowers them. */
const READ_ONLY = 'read-only';

/**
 * Installs the guard on `Descriptor` (preview2-shim's class) once, and returns `markReadOnly`, which
 * puts a preopen's descriptor (and so everything opened through it) under it.
 */
export function guardReadOnly(Descriptor: { prototype: object }): (descriptor: object) => void {
  const readOnly = new WeakSet<object>();
  const proto = Descriptor.prototype as Record<string, unknown> & DescriptorMethods;
  for (const name of MUTATING) {
    const original = proto[name] as (this: object, ...args: unknown[]) => unknown;
    proto[name] = function (this: object, ...args: unknown[]): unknown {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a WASI error code, as preview2-shim throws them
      if (readOnly.has(this)) throw READ_ONLY;
      return original.apply(this, args);
    };
  }
  const { openAt, linkAt, renameAt } = proto;
  proto.openAt = function (this: object, pathFlags, path, openFlags, flags): object {
    const guarded = readOnly.has(this);
    const changes = openFlags.create === true || openFlags.truncate === true;
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- a WASI error code, as preview2-shim throws them
    if (guarded && (changes || flags.write === true || flags.mutateDirectory === true)) throw READ_ONLY;
    const opened = openAt.call(this, pathFlags, path, openFlags, flags);
    if (guarded) readOnly.add(opened);
    return opened;
  };
  proto.linkAt = function (this: object, oldPathFlags, oldPath, newDescriptor, newPath): void {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- a WASI error code, as preview2-shim throws them
    if (readOnly.has(this) || readOnly.has(newDescriptor)) throw READ_ONLY;
    linkAt.call(this, oldPathFlags, oldPath, newDescriptor, newPath);
  };
  proto.renameAt = function (this: object, oldPath, newDescriptor, newPath): void {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- a WASI error code, as preview2-shim throws them
    if (readOnly.has(this) || readOnly.has(newDescriptor)) throw READ_ONLY;
    renameAt.call(this, oldPath, newDescriptor, newPath);
  };
  return (descriptor) => readOnly.add(descriptor);
}
