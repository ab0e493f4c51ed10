// Developer entry point for the test Collector:
//   node test/collector/cli.ts build      compile (or find) the cached otelcol-genops and print its path
//   node test/collector/cli.ts generate   rerun the Collector Builder after editing builder-config.yaml
//   node test/collector/cli.ts validate   run `otelcol-genops validate` on every otel-config/*.yaml
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCollector, generateModule } from './build.ts';
import { VALIDATE_ENV } from './validate-env.ts';

const log = (message: string) => process.stderr.write(`[collector] ${message}\n`);
const configDir = fileURLToPath(new URL('../../otel-config/', import.meta.url));

async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case 'generate':
      await generateModule(log);
      log('regenerated test/collector/gomod; commit it');
      return 0;
    case 'build':
      process.stdout.write(`${await ensureCollector({ log })}\n`);
      return 0;
    case 'validate': {
      const binary = await ensureCollector({ log });
      let failed = 0;
      for (const file of readdirSync(configDir).filter(
        (f) => f.endsWith('.yaml') && f !== 'instrumentation.yaml',
      )) {
        const r = spawnSync(binary, ['validate', `--config=${join(configDir, file)}`], {
          encoding: 'utf8',
          env: { ...process.env, ...VALIDATE_ENV },
        });
        log(`${file}: ${r.status === 0 ? 'valid' : `INVALID\n${r.stderr}`}`);
        if (r.status !== 0) failed++;
      }
      return failed === 0 ? 0 : 1;
    }
    default:
      process.stderr.write('usage: node test/collector/cli.ts build|generate|validate\n');
      return 2;
  }
}

process.exitCode = await main(process.argv[2]);
