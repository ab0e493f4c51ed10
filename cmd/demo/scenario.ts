// Owns the demo scenario: which workloads call which models, how often, and how big their requests are.
// The figures are chosen so that within a minute or two one team (research sandbox) crosses its
// small daily budget and is blocked, one workload trips a model-governance rule, a development
// workload exceeds a warn-only rate limit, and the rest stay healthy.

export interface DemoCall {
  readonly provider: string;
  readonly model: string;
  readonly operation: 'chat' | 'embeddings' | 'text_completion';
  /** Relative weight among the workload's calls. */
  readonly weight: number;
  readonly inputTokens: readonly [min: number, max: number];
  readonly outputTokens: readonly [min: number, max: number];
  readonly cacheReadShare?: number;
}

export interface DemoWorkload {
  readonly namespace: string;
  readonly deployment: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly classification?: string;
  /** Requests per second at rate 1.0. */
  readonly requestsPerSecond: number;
  /** A content-safety evaluation score range reported with each call, if any. */
  readonly safety?: readonly [min: number, max: number];
  readonly calls: readonly DemoCall[];
}

export const demoWorkloads: readonly DemoWorkload[] = [
  {
    namespace: 'ai-platform',
    deployment: 'chat-assistant',
    labels: { team: 'ai-platform', environment: 'production', project: 'chat-assistant' },
    classification: 'internal',
    // 48 requests a minute: inside production-policy's 60 per minute.
    requestsPerSecond: 0.8,
    safety: [0.9, 0.99],
    calls: [
      {
        provider: 'openai',
        model: 'gpt-4o',
        operation: 'chat',
        weight: 6,
        inputTokens: [800, 4000],
        outputTokens: [100, 800],
        cacheReadShare: 0.3,
      },
      {
        provider: 'anthropic',
        model: 'claude-3-5-sonnet-20241022',
        operation: 'chat',
        weight: 3,
        inputTokens: [1000, 6000],
        outputTokens: [200, 1000],
      },
    ],
  },
  {
    namespace: 'ai-platform',
    deployment: 'summarizer',
    labels: { team: 'ai-platform', environment: 'production', project: 'summarizer' },
    classification: 'confidential',
    requestsPerSecond: 1,
    safety: [0.88, 0.97],
    calls: [
      // Not in production-policy's allowedModels ("gpt-4*", "claude-3*"): a governance violation.
      {
        provider: 'anthropic',
        model: 'claude-sonnet-4-20250514',
        operation: 'chat',
        weight: 1,
        inputTokens: [2000, 8000],
        outputTokens: [300, 1200],
      },
    ],
  },
  {
    namespace: 'ai-platform-dev',
    deployment: 'prompt-lab',
    labels: { team: 'ai-platform', environment: 'development', project: 'prompt-lab' },
    // 36 requests a minute: over dev-policy's 30 per minute, which only warns.
    requestsPerSecond: 0.6,
    calls: [
      {
        provider: 'openai',
        model: 'gpt-4o-mini',
        operation: 'chat',
        weight: 1,
        inputTokens: [300, 3000],
        outputTokens: [50, 600],
      },
    ],
  },
  {
    namespace: 'default',
    deployment: 'search-ranker',
    labels: { team: 'platform', project: 'search' },
    requestsPerSecond: 2,
    calls: [
      {
        provider: 'openai',
        model: 'gpt-4o-mini',
        operation: 'chat',
        weight: 1,
        inputTokens: [500, 2500],
        outputTokens: [20, 200],
      },
    ],
  },
  {
    namespace: 'default',
    deployment: 'research-agent',
    labels: { team: 'research', project: 'sandbox' },
    requestsPerSecond: 2,
    calls: [
      // Long-context calls: about 0.1-0.6 USD each, so the sandbox budget runs out quickly.
      {
        provider: 'openai',
        model: 'gpt-4o',
        operation: 'chat',
        weight: 3,
        inputTokens: [30_000, 180_000],
        outputTokens: [1000, 4000],
      },
      {
        provider: 'anthropic',
        model: 'claude-3-5-sonnet-20241022',
        operation: 'chat',
        weight: 1,
        // Up to 0.63 USD a call: over research-team-budget's perRequestLimit of 0.50 now and then.
        inputTokens: [40_000, 190_000],
        outputTokens: [1000, 4000],
      },
    ],
  },
];
