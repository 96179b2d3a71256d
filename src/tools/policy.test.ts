import { describe, expect, it } from 'vitest';
import { ToolError } from './errors.js';
import { grantedEnvKeys, guestPathOf, networkAllowed, parsePolicy, storageGrants } from './policy.js';

/** Wassette's own policies (github.com/microsoft/wassette at 8940e27), verbatim. */
const WASSETTE = {
  'policy.yaml': `version: "1.0"
description: "Permission policy for wassette weather demo"
permissions:
  network:
    allow:
      - host: "api.openweathermap.org"
  environment:
    allow:
      - key: "OPENWEATHER_API_KEY"
`,
  'examples/fetch-rs/policy.yaml': `version: "1.0"
description: "Permission policy for wassette weather demo"
permissions:
  network:
    allow:
      - host: "https://rss.nytimes.com/"
`,
  'examples/filesystem-rs/policy.yaml': `# file system access policy for wassette project
# https://github.com/microsoft/policy-mcp-rs
version: "1.0"
description: "Permission policy for filesystem access in wassette"
permissions:
  storage:
    allow:
      # Allow read access to the wassette project directory
      - uri: "fs:///Users/USERNAME/github/wassette"
        access: ["read"]
    # Allow read access to the user's home directory
      - uri: "fs:///Users/USERNAME"
        access: ["read"]
      # Allow read access to the root filesystem
      - uri: "fs:///"
        access: ["read"]
`,
  'examples/time-server-js/policy.yaml': `version: "1.0"
description: "Permission policy for time-server"
permissions: {}`,
  'crates/policy/testdata/minimal.yaml': `version: "1.0"
description: "Minimal valid policy"
permissions: {} `,
  'crates/policy/testdata/environment-only.yaml': `version: "1.0"
description: "Environment-only policy for basic shell access"
permissions:
  environment:
    allow:
    - key: "PATH"
    - key: "HOME"
    - key: "USER"
`,
  'docs/overview.md (storage)': `version: "1.0"
permissions:
  storage:
    allow:
    - uri: "fs://workspace/**"
      access: ["read", "write"]
    - uri: "fs://config/app.yaml"
      access: ["read"]
`,
};

function refusal(text: string): string {
  try {
    parsePolicy(text, 'policy.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ToolError);
    expect((error as ToolError).code).toBe('invalid_policy');
    return (error as Error).message;
  }
  throw new Error('the policy was accepted');
}

describe('parsePolicy', () => {
  it.each(Object.entries(WASSETTE))("accepts Wassette's %s", (name, text) => {
    const policy = parsePolicy(text, name);
    expect(policy.version).toBe('1.0');
    expect(policy.resources).toEqual({ timeoutMs: 5000, memoryMb: 128 });
  });

  it('reads the grants of the weather demo', () => {
    const policy = parsePolicy(WASSETTE['policy.yaml'], 'policy.yaml');
    expect(networkAllowed(policy, 'api.openweathermap.org')).toBe(true);
    expect(networkAllowed(policy, 'api.openweathermap.org:443')).toBe(true);
    expect(networkAllowed(policy, 'evil.example.com')).toBe(false);
    expect(grantedEnvKeys(policy)).toEqual(['OPENWEATHER_API_KEY']);
    expect(storageGrants(policy)).toEqual([]);
  });

  it('reduces a URL written as a host to its host', () => {
    const policy = parsePolicy(WASSETTE['examples/fetch-rs/policy.yaml'], 'policy.yaml');
    expect(policy.permissions?.network?.allow).toEqual([{ host: 'rss.nytimes.com' }]);
  });

  it('maps storage URIs to the folders they open', () => {
    const policy = parsePolicy(WASSETTE['docs/overview.md (storage)'], 'policy.yaml');
    expect(storageGrants(policy)).toEqual([
      { guestPath: '/workspace', read: true, write: true },
      { guestPath: '/config/app.yaml', read: true, write: false },
    ]);
    expect(guestPathOf('fs:///')).toBe('/');
    expect(guestPathOf('fs://tmp/*.log')).toBe('/tmp');
  });

  it('grants nothing when permissions are missing, empty or null', () => {
    for (const text of ['version: "1.0"', 'version: "1.0"\npermissions: {}', 'version: "1.0"\npermissions:']) {
      const policy = parsePolicy(text, 'policy.yaml');
      expect(networkAllowed(policy, 'localhost')).toBe(false);
      expect(grantedEnvKeys(policy)).toEqual([]);
      expect(storageGrants(policy)).toEqual([]);
    }
  });

  it('lets a deny rule win and matches wildcards on subdomains only', () => {
    const policy = parsePolicy(
      `version: "1.0"
permissions:
  network:
    allow: [{ host: "*.example.com" }, { host: "127.0.0.1:8080" }]
    deny: [{ host: "bad.example.com" }]
  environment:
    allow: [{ key: A }, { key: B }]
    deny: [{ key: B }]
`,
      'policy.yaml',
    );
    expect(networkAllowed(policy, 'api.example.com')).toBe(true);
    expect(networkAllowed(policy, 'example.com')).toBe(false);
    expect(networkAllowed(policy, 'bad.example.com')).toBe(false);
    expect(networkAllowed(policy, 'api.example.com.evil.net')).toBe(false);
    expect(networkAllowed(policy, '127.0.0.1:8080')).toBe(true);
    expect(networkAllowed(policy, '127.0.0.1:8081')).toBe(false);
    expect(grantedEnvKeys(policy)).toEqual(['A']);
  });

  it("fills Conveyor's resources block and bounds it", () => {
    const policy = parsePolicy('version: "1.0"\nresources: { timeoutMs: 250 }', 'policy.yaml');
    expect(policy.resources).toEqual({ timeoutMs: 250, memoryMb: 128 });
    expect(refusal('version: "1.0"\nresources: { memoryMb: 4096 }')).toMatch(
      /^policy\.yaml: resources\.memoryMb: .*1024/,
    );
    expect(refusal('version: "1.0"\nresources: { timeoutMs: 0 }')).toMatch(/^policy\.yaml: resources\.timeoutMs: /);
  });

  it('refuses an unknown key naming the path and the key it meant', () => {
    expect(refusal('version: "1.0"\npermissions:\n  network:\n    allow:\n      - hots: api.example.com\n')).toBe(
      'policy.yaml: permissions.network.allow[0].hots: unknown key; expected host',
    );
    expect(refusal('version: "1.0"\npermisions: {}')).toBe(
      'policy.yaml: permisions: unknown key; expected permissions',
    );
    expect(refusal('version: "1.0"\npermissions: { files: {} }')).toBe(
      'policy.yaml: permissions.files: unknown key; expected storage, network, environment',
    );
  });

  it("refuses Wassette's keys Conveyor cannot enforce, saying what to write instead", () => {
    expect(refusal('version: "1.0"\npermissions:\n  network:\n    allow: [{ cidr: 10.0.0.0/8 }]')).toMatch(
      /^policy\.yaml: permissions\.network\.allow\[0\]\.cidr: not supported; .*name each host/,
    );
    expect(refusal('version: "1.0"\npermissions:\n  resources: { memory: 1024 }')).toMatch(
      /^policy\.yaml: permissions\.resources: not supported; .*top-level resources block/,
    );
  });

  it('refuses bad values, a missing version and broken YAML', () => {
    expect(refusal('description: x')).toBe('policy.yaml: version: missing; add version: "1.0"');
    expect(refusal('version: 1.0')).toBe('policy.yaml: version: unsupported; expected "1.0" (quoted)');
    expect(refusal('version: "1.0"\npermissions:\n  storage:\n    allow: [{ uri: /etc, access: [read] }]')).toMatch(
      /^policy\.yaml: permissions\.storage\.allow\[0\]\.uri: expected a URI starting with fs:\/\//,
    );
    expect(
      refusal('version: "1.0"\npermissions:\n  storage:\n    allow: [{ uri: "fs://a", access: [execute] }]'),
    ).toMatch(/^policy\.yaml: permissions\.storage\.allow\[0\]\.access\[0\]: /);
    expect(refusal('version: "1.0"\npermissions: [')).toMatch(/^policy\.yaml: not valid YAML: /);
    expect(refusal('')).toBe('policy.yaml: empty; expected at least version: "1.0"');
  });
});
