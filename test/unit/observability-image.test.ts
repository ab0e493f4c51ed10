// The container image without a container runtime: the runtime stage of the Dockerfile is laid out
// in a temporary directory exactly as its COPY lines and .dockerignore say, with only the production
// dependencies (npm ls --omit=dev) in node_modules, and the CLI must load every command from it.
// This catches a source folder missing from the image or a runtime import of a devDependency.

import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, matchesGlob, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const ignore = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const image = mkdtempSync(join(tmpdir(), 'genops-image-'));
afterAll(() => rmSync(image, { recursive: true, force: true }));

function ignored(path: string): boolean {
  return ignore.some((pattern) => {
    const p = pattern.replace(/^\//, '');
    return (
      matchesGlob(path, p) ||
      matchesGlob(path, `${p}/**`) ||
      path.split('/').some((_, i, parts) => matchesGlob(parts.slice(0, i + 1).join('/'), p))
    );
  });
}

function copyContext(from: string, to: string): number {
  let files = 0;
  const walk = (dir: string) => {
    for (const name of readdirSync(join(root, dir))) {
      const rel = dir ? `${dir}/${name}` : name;
      if (ignored(rel)) continue;
      if (statSync(join(root, rel)).isDirectory()) walk(rel);
      else {
        const target = join(to, relative(from, rel));
        mkdirSync(join(target, '..'), { recursive: true });
        cpSync(join(root, rel), target);
        files++;
      }
    }
  };
  if (statSync(join(root, from)).isDirectory()) walk(from);
  else if (!ignored(from)) {
    cpSync(join(root, from), to);
    files++;
  }
  return files;
}

/** COPY lines of the final stage that copy from the build context. */
function runtimeCopies(): { src: string; dest: string }[] {
  const stages = dockerfile.split(/^FROM /m);
  const last = stages[stages.length - 1] ?? '';
  return [...last.matchAll(/^COPY\s+(?!--from)(\S+)\s+(\S+)\s*$/gm)].map((m) => ({
    src: m[1]!,
    dest: m[2]!,
  }));
}

describe('container image', () => {
  it('runs as a non-root numeric user with the CLI as entrypoint', () => {
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\} AS deps$/m);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-slim$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "cmd\/genops\.ts"\]$/m);
    const manager = readFileSync(join(root, 'config/manager/manager.yaml'), 'utf8');
    expect(manager).toContain('runAsUser: 65532');
  });

  it('leaves tests, fixtures and benchmarks out of the context', () => {
    expect(ignored('pipeline/ingest.test.ts')).toBe(true);
    expect(ignored('decision/engine.bench.ts')).toBe(true);
    expect(ignored('pipeline/otlp/testing/spans.ts')).toBe(true);
    expect(ignored('node_modules/yaml/index.js')).toBe(true);
    expect(ignored('pipeline/ingest.ts')).toBe(false);
  });

  it('loads every command from the image layout with production dependencies only', () => {
    const copies = runtimeCopies();
    expect(copies.map((c) => c.src)).toEqual(
      expect.arrayContaining(['cmd', 'pipeline', 'observability', 'package.json']),
    );
    let files = 0;
    for (const { src, dest } of copies) {
      files += copyContext(src, join(image, dest === './' ? src : dest.replace(/^\.\//, '')));
    }
    expect(files).toBeGreaterThan(50);
    expect(existsSync(join(image, 'cmd/genops.ts'))).toBe(true);
    expect(existsSync(join(image, 'pipeline/ingest.test.ts'))).toBe(false);

    // node_modules as `npm ci --omit=dev` would leave it: top-level production packages only.
    const ls = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
      cwd: root,
      encoding: 'utf8',
    });
    const prod = ls.stdout
      .split('\n')
      .map((p) => relative(join(root, 'node_modules'), p.trim()))
      .filter((p) => p && !p.startsWith('..') && !p.includes('/node_modules/'));
    expect(prod).toContain('prom-client');
    expect(prod).not.toContain('vitest');
    for (const pkg of prod) {
      mkdirSync(join(image, 'node_modules', pkg, '..'), { recursive: true });
      symlinkSync(join(root, 'node_modules', pkg), join(image, 'node_modules', pkg));
    }

    // --preserve-symlinks: packages resolve their own dependencies inside the image's node_modules.
    const run = (args: string[]) =>
      spawnSync(
        process.execPath,
        ['--preserve-symlinks', '--preserve-symlinks-main', 'cmd/genops.ts', ...args],
        {
          cwd: image,
          encoding: 'utf8',
          env: { PATH: process.env.PATH ?? '', HOME: image },
          timeout: 60_000,
        },
      );
    const help = run(['--help']);
    expect(help.stderr).not.toMatch(/Cannot find|ERR_MODULE_NOT_FOUND/);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('validate');
    const version = run(['version']);
    expect(version.status).toBe(0);
  }, 90_000);
});
