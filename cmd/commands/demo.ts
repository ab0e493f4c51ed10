// `genops demo`: sends the demo scenario's GenAI spans to any OTLP endpoint through the real SDK.

import { Command, Option } from 'commander';
import type { CommandContext } from '../context.ts';
import { EXIT } from '../context.ts';
import { parsePositive } from '../flags.ts';
import { createDemoTraffic, type OtlpProtocol } from '../demo/traffic.ts';

export function command(ctx: CommandContext, setExit: (code: number) => void): Command {
  return new Command('demo')
    .description('send realistic GenAI spans (several teams, providers and models) to an OTLP endpoint')
    .option('--endpoint <url>', 'OTLP endpoint (4318 for HTTP, 4317 for gRPC)', 'http://127.0.0.1:4318')
    .addOption(
      new Option('--protocol <protocol>', 'OTLP protocol')
        .choices(['http/protobuf', 'http/json', 'grpc'])
        .default('http/protobuf'),
    )
    .option('--rate <factor>', 'multiplies every workload request rate', parsePositive, 1)
    .option(
      '--duration <seconds>',
      'stop after this many seconds (default: run until interrupted)',
      parsePositive,
    )
    .option('--once <requests>', 'send this many requests per workload, flush and exit', parsePositive)
    .action(
      async (opts: {
        endpoint: string;
        protocol: OtlpProtocol;
        rate: number;
        duration?: number;
        once?: number;
      }) => {
        const traffic = createDemoTraffic({
          endpoint: opts.endpoint,
          protocol: opts.protocol,
          rate: opts.rate,
          logger: ctx.logger,
        });
        if (opts.once !== undefined) {
          await traffic.burst(Math.floor(opts.once));
          await traffic.shutdown();
          ctx.stdout(`sent ${traffic.requestsSent()} requests to ${opts.endpoint} (${opts.protocol})\n`);
          setExit(EXIT.ok);
          return;
        }
        await traffic.start();
        await new Promise<void>((resolve) => {
          const stop = (): void => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          if (opts.duration !== undefined) setTimeout(stop, opts.duration * 1000).unref();
        });
        await traffic.shutdown();
        ctx.stdout(`sent ${traffic.requestsSent()} requests to ${opts.endpoint} (${opts.protocol})\n`);
      },
    );
}
