// `genops prices`: which price the operator uses for a provider and model, and what a request costs.

import { Command } from 'commander';
import type { CommandContext } from '../context.ts';
import { EXIT } from '../context.ts';
import { parseUnknownModelPriceFlag, parseWholeNumber } from '../flags.ts';
import { formatMicros } from '../../kernel/money.ts';
import { createPriceBook } from '../../pipeline/pricing/price-book.ts';
import type { UnknownModelPrice } from '../../pipeline/pricing/overrides.ts';
import { loadPriceTableConfig, withUnknownModelPrice } from '../../pipeline/pricing/overrides.ts';
import { costMicros, type Price, type TokenRates } from '../../pipeline/pricing/price.ts';

interface PricesOptions {
  input?: number;
  output?: number;
  cacheRead?: number;
  cacheWrite?: number;
  reasoning?: number;
  priceFile?: string;
  unknownModelPrice?: UnknownModelPrice;
  json?: boolean;
}

export function command(ctx: CommandContext, setExit: (code: number) => void): Command {
  return new Command('prices')
    .description('show the price used for a provider and model (USD per 1M tokens), and a request cost')
    .argument('<provider>', 'provider as instrumentations send it, e.g. openai, anthropic, aws.bedrock')
    .argument('<model>', 'model name, e.g. gpt-4o or claude-sonnet-4-20250514')
    .option(
      '--input <tokens>',
      'input tokens of a request to price (includes cache tokens)',
      parseWholeNumber,
    )
    .option('--output <tokens>', 'output tokens of the request (includes reasoning tokens)', parseWholeNumber)
    .option('--cache-read <tokens>', 'cache-read input tokens of the request', parseWholeNumber)
    .option('--cache-write <tokens>', 'cache-write input tokens of the request', parseWholeNumber)
    .option('--reasoning <tokens>', 'reasoning output tokens of the request', parseWholeNumber)
    .option(
      '--price-file <file>',
      'operator price overrides (YAML or JSON), as given to genops local/operator',
    )
    .option(
      '--unknown-model-price <price>',
      'price of models no table knows: highest (of the provider, default), 0, or <input>,<output> USD per 1M tokens',
      parseUnknownModelPriceFlag,
    )
    .option('--json', 'print JSON')
    .action(async (provider: string, model: string, opts: PricesOptions) => {
      const config = withUnknownModelPrice(
        opts.priceFile === undefined ? undefined : await loadPriceTableConfig(opts.priceFile),
        opts.unknownModelPrice,
      );
      const book = createPriceBook({ clock: ctx.clock, ...(config ? { config } : {}) });
      const price = book.lookup(provider, model);
      if (price === undefined) {
        const fallback = book.fallbackFor(provider).rates;
        ctx.stderr(
          `genops prices: no price known for ${provider}/${model}; spans for it are counted and flagged unpriced ` +
            `(fallback ${usdPerMillion(fallback.input)}/${usdPerMillion(fallback.output)} USD per 1M input/output; ` +
            `--unknown-model-price sets it). ` +
            `Add it to a --price-file to price it.\n`,
        );
        setExit(EXIT.failure);
        return;
      }
      const tokens = {
        inputTokens: opts.input ?? 0,
        outputTokens: opts.output ?? 0,
        cacheReadTokens: opts.cacheRead ?? 0,
        cacheWriteTokens: opts.cacheWrite ?? 0,
        reasoningTokens: opts.reasoning ?? 0,
      };
      const priced = opts.input !== undefined || opts.output !== undefined;
      const cost = priced ? costMicros(tokens, price) : undefined;
      if (opts.json === true) {
        ctx.stdout(JSON.stringify(toJson(price, cost), null, 2) + '\n');
      } else {
        ctx.stdout(render(provider, model, price, cost));
      }
      setExit(EXIT.ok);
    });
}

function toJson(price: Price, cost: number | undefined): Record<string, unknown> {
  return {
    provider: price.provider,
    model: price.model,
    source: price.source,
    usdPerMillionTokens: ratesJson(price.rates),
    tiers: price.tiers.map((t) => ({
      aboveInputTokens: t.aboveInputTokens,
      usdPerMillionTokens: ratesJson(t.rates),
    })),
    ...(cost === undefined ? {} : { requestCostUsd: formatMicros(cost) }),
  };
}

function ratesJson(r: TokenRates): Record<string, string> {
  return {
    input: usdPerMillion(r.input),
    output: usdPerMillion(r.output),
    cacheRead: usdPerMillion(r.cacheRead),
    cacheWrite: usdPerMillion(r.cacheWrite),
    reasoning: usdPerMillion(r.reasoning),
  };
}

function render(provider: string, model: string, price: Price, cost: number | undefined): string {
  const r = price.rates;
  const lines = [
    `${provider}/${model} -> ${price.provider}/${price.model} (${price.source})`,
    `USD per 1M tokens: input ${usdPerMillion(r.input)}, output ${usdPerMillion(r.output)}, ` +
      `cache read ${usdPerMillion(r.cacheRead)}, cache write ${usdPerMillion(r.cacheWrite)}, reasoning ${usdPerMillion(r.reasoning)}`,
  ];
  for (const t of price.tiers) {
    lines.push(
      `above ${t.aboveInputTokens} input tokens: input ${usdPerMillion(t.rates.input)}, output ${usdPerMillion(t.rates.output)}`,
    );
  }
  if (cost !== undefined) lines.push(`request cost: ${formatMicros(cost)} USD`);
  return lines.join('\n') + '\n';
}

/** Rates are integer micro-USD per 1M tokens; shown as USD per 1M tokens without trailing zeros. */
function usdPerMillion(rate: number): string {
  return formatMicros(rate).replace(/\.?0+$/, '') || '0';
}
