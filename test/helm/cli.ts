// `node test/helm/cli.ts build`: build (or find) the cached helm the chart tests use and print its path.
import { ensureHelm } from './build.ts';

const log = (message: string) => process.stderr.write(`[helm] ${message}\n`);

if (process.argv[2] !== 'build') {
  process.stderr.write('usage: node test/helm/cli.ts build\n');
  process.exitCode = 2;
} else {
  try {
    process.stdout.write((await ensureHelm({ log })) + '\n');
  } catch (error) {
    log((error as Error).message);
    process.exitCode = 1;
  }
}
