import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../../test/helpers/oci-registry.js';
import {
  TOOL_MANIFEST_MEDIA_TYPE,
  WASM_CONFIG_MEDIA_TYPE,
  WASM_LAYER_MEDIA_TYPE,
  WASM_POLICY_MEDIA_TYPE,
  readToolArtifact,
  toolArtifact,
} from './oci-artifact.js';
import { RegistryError } from './errors.js';
import { parseReference } from './oci-reference.js';
import { OCI_MANIFEST_MEDIA_TYPE, pullArtifact, pushArtifact, sha256Digest, type OciArtifact } from './oci-registry.js';

/** A component's header and arbitrary bytes: the registry and the layout care about bytes, not validity. */
function fakeComponent(size = 4096): Uint8Array {
  return Buffer.concat([Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]), randomBytes(size)]);
}

function tool(name: string): OciArtifact {
  return toolArtifact({
    wasm: fakeComponent(),
    policyYaml: 'version: "1.0"\ndescription: test\npermissions: {}\n',
    manifestJson: JSON.stringify({ name, version: '1.0.0' }),
    exports: ['run'],
    imports: [],
  });
}

async function rejection(promise: Promise<unknown>): Promise<RegistryError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(RegistryError);
  return error as RegistryError;
}

describe('parseReference', () => {
  it('reads host, port, repository, tag and digest, with or without oci://', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseReference('oci://ghcr.io/org/tools/slugify:1.2.3')).toEqual({
      registry: 'ghcr.io',
      repository: 'org/tools/slugify',
      tag: '1.2.3',
      digest: undefined,
      baseUrl: 'https://ghcr.io',
    });
    expect(parseReference(`localhost:5000/slugify@${digest}`)).toMatchObject({
      registry: 'localhost:5000',
      repository: 'slugify',
      tag: undefined,
      digest,
      baseUrl: 'http://localhost:5000',
    });
    expect(parseReference(`oci://[::1]:5000/a/b:v1@${digest}`)).toMatchObject({
      repository: 'a/b',
      tag: 'v1',
      digest,
      baseUrl: 'http://[::1]:5000',
    });
    expect(parseReference('127.0.0.1:5000/x:1').baseUrl).toBe('http://127.0.0.1:5000');
    // Plain HTTP is for loopback only, whatever the port.
    expect(parseReference('registry.example.com:5000/x:1').baseUrl).toBe('https://registry.example.com:5000');
  });

  it.each([
    ['oci://ghcr.io/org/tool', 'names no tag or digest'],
    ['org/tool:1.0', 'does not look like a registry host'],
    ['oci://ghcr.io', 'names no repository'],
    ['https://ghcr.io/org/tool:1', 'only oci:// references'],
    ['oci://ghcr.io/Org/tool:1', 'repository "Org/tool" is not valid'],
    ['oci://ghcr.io/org/tool:-bad', 'tag "-bad" is not valid'],
    ['oci://ghcr.io/org/tool@sha256:abc', 'is not sha256: followed by 64'],
    ['oci://ghcr.io:99999/org/tool:1', 'is not a registry host'],
  ])('refuses %s naming the problem', (ref, problem) => {
    let error: unknown;
    try {
      parseReference(ref);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).kind).toBe('invalid_reference');
    expect((error as RegistryError).message).toContain(problem);
    expect((error as RegistryError).message).toContain(ref);
  });
});

describe('against a real registry (docker-registry, Distribution 2.8)', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('pushes a tool and pulls it back, digests verified, in the layout Wassette loads', async () => {
    const artifact = tool('slugify');
    const pushed = await pushArtifact(`oci://${registry.host}/tools/slugify:1.0.0`, artifact);
    expect(pushed.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(pushed.ref).toBe(`oci://${registry.host}/tools/slugify@${pushed.digest}`);
    expect(pushed.uploaded).toHaveLength(4);

    // The manifest as the registry stores it, read without our client.
    const raw = await fetch(`http://${registry.host}/v2/tools/slugify/manifests/1.0.0`, {
      headers: { accept: OCI_MANIFEST_MEDIA_TYPE },
    });
    expect(raw.headers.get('content-type')).toBe(OCI_MANIFEST_MEDIA_TYPE);
    const bytes = new Uint8Array(await raw.arrayBuffer());
    expect(sha256Digest(bytes)).toBe(pushed.digest);
    const manifest = JSON.parse(Buffer.from(bytes).toString()) as {
      schemaVersion: number;
      mediaType: string;
      config: { mediaType: string; digest: string };
      layers: { mediaType: string; digest: string; size: number }[];
    };
    expect(manifest.schemaVersion).toBe(2);
    expect(manifest.mediaType).toBe(OCI_MANIFEST_MEDIA_TYPE);
    expect(manifest.config.mediaType).toBe(WASM_CONFIG_MEDIA_TYPE);
    expect(manifest.layers.map((layer) => layer.mediaType)).toEqual([
      WASM_LAYER_MEDIA_TYPE,
      WASM_POLICY_MEDIA_TYPE,
      TOOL_MANIFEST_MEDIA_TYPE,
    ]);
    const configBlob = await fetch(`http://${registry.host}/v2/tools/slugify/blobs/${manifest.config.digest}`);
    expect(await configBlob.json()).toEqual({
      created: '1970-01-01T00:00:00Z',
      architecture: 'wasm',
      os: 'wasip2',
      layerDigests: manifest.layers.map((layer) => layer.digest),
      component: { exports: ['run'], imports: [] },
    });

    const pulled = await pullArtifact(`oci://${registry.host}/tools/slugify:1.0.0`);
    expect(pulled.digest).toBe(pushed.digest);
    expect(Buffer.from(pulled.manifestBytes).equals(bytes)).toBe(true);
    expect(pulled.layers.map((layer) => Buffer.from(layer.data))).toEqual(
      artifact.layers.map((layer) => Buffer.from(layer.data)),
    );
    const files = readToolArtifact(pulled);
    expect(Buffer.from(files.wasm).equals(Buffer.from(artifact.layers[0]?.data ?? []))).toBe(true);
    expect(files.policyYaml).toBe('version: "1.0"\ndescription: test\npermissions: {}\n');
    expect(JSON.parse(files.manifestJson)).toEqual({ name: 'slugify', version: '1.0.0' });
  });

  it('uploads no blob twice: a second push of the same artifact only HEADs', async () => {
    const artifact = tool('twice');
    const uploads = (): number =>
      registry.requests().filter((r) => r.method === 'POST' && r.path.startsWith('/v2/tools/twice/blobs/uploads/'))
        .length;
    const first = await pushArtifact(`${registry.host}/tools/twice:1.0.0`, artifact);
    expect(first.uploaded).toHaveLength(4);
    expect(uploads()).toBe(4);
    const second = await pushArtifact(`${registry.host}/tools/twice:1.0.1`, artifact);
    expect(second.digest).toBe(first.digest);
    expect(second.uploaded).toEqual([]);
    expect(second.existing.sort()).toEqual(first.uploaded.sort());
    expect(uploads()).toBe(4);
    // The same blob twice in one artifact is sent once.
    const data = fakeComponent(64);
    const dup = await pushArtifact(`${registry.host}/tools/dup:1`, {
      config: { mediaType: 'application/vnd.test.config+json', data: Buffer.from('{}') },
      layers: [
        { mediaType: 'application/wasm', data },
        { mediaType: 'application/wasm', data },
      ],
    });
    expect(dup.uploaded).toHaveLength(2);
  });

  it('pulls by tag and by digest, and refuses a digest reference that the content does not match', async () => {
    const pushed = await pushArtifact(`oci://${registry.host}/tools/refs:2.0.0`, tool('refs'));
    const byTag = await pullArtifact(`oci://${registry.host}/tools/refs:2.0.0`);
    const byDigest = await pullArtifact(pushed.ref);
    const both = await pullArtifact(`${registry.host}/tools/refs:2.0.0@${pushed.digest}`);
    expect([byTag.digest, byDigest.digest, both.digest]).toEqual([pushed.digest, pushed.digest, pushed.digest]);
    expect(byDigest.ref.digest).toBe(pushed.digest);
    // Pushing under a digest that is not the manifest's is refused before anything is sent.
    const before = registry.requests().length;
    const error = await rejection(pushArtifact(`${registry.host}/tools/refs@sha256:${'0'.repeat(64)}`, tool('x')));
    expect(error.kind).toBe('digest_mismatch');
    expect(registry.requests().length).toBe(before);
  });

  it('refuses a blob corrupted in the registry storage (same size, other bytes)', async () => {
    const pushed = await pushArtifact(`${registry.host}/tools/tampered:1.0.0`, tool('tampered'));
    const pulled = await pullArtifact(pushed.ref);
    const wasm = pulled.layers[0];
    if (wasm === undefined) throw new Error('no layer');
    const path = registry.blobPath(wasm.digest);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    writeFileSync(path, bytes);
    const error = await rejection(pullArtifact(`${registry.host}/tools/tampered:1.0.0`));
    expect(error.kind).toBe('digest_mismatch');
    expect(error.message).toContain(`layer 0 blob ${wasm.digest}`);
    expect(error.message).toContain("the content's digest is sha256:");
    // A blob that grew is refused by its size.
    writeFileSync(path, Buffer.concat([bytes, Buffer.from('more')]));
    const grown = await rejection(pullArtifact(pushed.ref));
    expect(grown.kind).toBe('digest_mismatch');
    expect(grown.message).toContain(
      `${String(bytes.length + 4)} bytes, more than the ${String(bytes.length)} expected`,
    );
  });

  it('refuses a manifest corrupted in the registry storage, by tag and by digest', async () => {
    const pushed = await pushArtifact(`${registry.host}/tools/badmanifest:1.0.0`, tool('badmanifest'));
    const path = registry.blobPath(pushed.digest);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"schemaVersion":2', '"schemaVersion":2 '));
    const byTag = await rejection(pullArtifact(`${registry.host}/tools/badmanifest:1.0.0`));
    expect(byTag.kind).toBe('digest_mismatch');
    const byDigest = await rejection(pullArtifact(pushed.ref));
    expect(byDigest.kind).toBe('digest_mismatch');
    expect(byDigest.message).toContain(`manifest ${pushed.ref}`);
  });

  it('names a missing tag and a missing repository clearly', async () => {
    await pushArtifact(`${registry.host}/tools/present:1.0.0`, tool('present'));
    const missingTag = await rejection(pullArtifact(`oci://${registry.host}/tools/present:9.9.9`));
    expect(missingTag.kind).toBe('not_found');
    expect(missingTag.status).toBe(404);
    expect(missingTag.code).toBe('registry_failed');
    expect(missingTag.message).toBe(
      `GET manifest oci://${registry.host}/tools/present:9.9.9: HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)`,
    );
    expect(missingTag.registryErrors[0]?.code).toBe('MANIFEST_UNKNOWN');
    const missingRepo = await rejection(pullArtifact(`oci://${registry.host}/tools/absent:1.0.0`));
    expect(missingRepo.kind).toBe('not_found');
    expect(missingRepo.message).toContain(`oci://${registry.host}/tools/absent:1.0.0`);
  });

  it('reports an unreachable registry and refuses a foreign artifact as a tool', async () => {
    const down = await rejection(pullArtifact('127.0.0.1:1/tools/none:1'));
    expect(down.kind).toBe('unreachable');
    const pushed = await pushArtifact(`${registry.host}/tools/foreign:1`, {
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', data: Buffer.from('{}') },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', data: Buffer.from('x') }],
    });
    const pulled = await pullArtifact(pushed.ref);
    expect(() => readToolArtifact(pulled)).toThrow(
      /config media type is application\/vnd\.oci\.image\.config\.v1\+json/,
    );
    const noWasm = await pullArtifact(
      (
        await pushArtifact(`${registry.host}/tools/nowasm:1`, {
          config: tool('nowasm').config,
          layers: [{ mediaType: WASM_POLICY_MEDIA_TYPE, data: Buffer.from('version: "1.0"\n') }],
        })
      ).ref,
    );
    expect(() => readToolArtifact(noWasm)).toThrow(
      /layer 0 is application\/vnd\.wasm\.policy\.v1\+yaml, not the component/,
    );
  });
});

describe('against a registry behind htpasswd Basic auth', () => {
  let registry: TestRegistry;
  const user = 'robot';
  const password = 'pa55-w0rd-sentinel';
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { user, password } });
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('refuses a push without credentials (401) and with a wrong password, and pushes with them', async () => {
    const ref = `oci://${registry.host}/tools/private:1.0.0`;
    const anonymous = await rejection(pushArtifact(ref, tool('private')));
    expect(anonymous.kind).toBe('unauthorized');
    expect(anonymous.status).toBe(401);
    expect(anonymous.message).toContain('needs credentials');

    const wrong = `${user}:wrong-${password}`;
    const refused = await rejection(pushArtifact(ref, tool('private'), { token: wrong }));
    expect(refused.status).toBe(401);
    expect(refused.message).not.toContain(password);

    const notBasic = await rejection(pushArtifact(ref, tool('private'), { token: 'no-colon-token' }));
    expect(notBasic.message).toContain('give the token as user:password');
    expect(notBasic.message).not.toContain('no-colon-token');

    const pushed = await pushArtifact(ref, tool('private'), { token: `${user}:${password}` });
    expect(pushed.uploaded).toHaveLength(4);
    const pulled = await pullArtifact(ref, { token: `${user}:${password}` });
    expect(pulled.digest).toBe(pushed.digest);
    expect((await rejection(pullArtifact(ref))).status).toBe(401);
  });
});

describe('against a registry behind token auth (Bearer realm)', () => {
  let registry: TestRegistry;
  const login = { user: 'robot', password: 'token-login-sentinel', identityToken: 'identity-token-sentinel' };
  beforeAll(async () => {
    registry = await startRegistry({ token: login });
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('gets a token for the challenged scope, logging in with user:password or presenting a token', async () => {
    const ref = `oci://${registry.host}/tools/bearer:1.0.0`;
    const pushed = await pushArtifact(ref, tool('bearer'), { token: `${login.user}:${login.password}` });
    expect(pushed.uploaded).toHaveLength(4);
    const asked = registry.tokenRequests();
    expect(asked.every((request) => request.auth === 'basic' && request.granted)).toBe(true);
    // Distribution lists the actions of a challenge in either order.
    const actions = asked
      .flatMap((request) => request.scopes)
      .filter((scope) => scope.startsWith('repository:tools/bearer:'))
      .map((scope) => scope.split(':')[2]?.split(',').sort().join(','));
    expect(actions).toContain('pull,push');

    const pulled = await pullArtifact(ref, { token: login.identityToken });
    expect(pulled.digest).toBe(pushed.digest);
    expect(registry.tokenRequests().at(-1)).toMatchObject({ auth: 'bearer', granted: true });
  });

  it('names a refused login without the credential', async () => {
    const ref = `oci://${registry.host}/tools/bearer:1.0.0`;
    const anonymous = await rejection(pullArtifact(ref));
    expect(anonymous.status).toBe(401);
    expect(anonymous.message).toContain('token from http://127.0.0.1:');
    const wrong = await rejection(pullArtifact(ref, { token: `${login.user}:not-${login.password}` }));
    expect(wrong.kind).toBe('unauthorized');
    expect(wrong.message).toContain('UNAUTHORIZED: bad login');
    expect(wrong.message).not.toContain(login.password);
  });
});
