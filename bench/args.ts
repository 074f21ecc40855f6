/** `npm run bench -- [SCENARIO …] [--quick] [--compare haproxy,nginx] [options]` */
import { scenarios } from './scenarios/index.js';

/** The columns --compare can add. */
export const PEERS = ['haproxy', 'nginx', 'pipe', 'floor'];

export interface Args {
  scenarios: string[];
  quick: boolean;
  compare: string[];
  workers?: number;
  peerWorkers: number;
  repeat?: number;
  durationMs?: number;
  rate: number;
  opsRate: number;
  stallMs: number;
  opTimeoutMs: number;
  idle?: number;
  out?: string;
  progress: boolean;
  keep: boolean;
  profile: boolean;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [SCENARIO ...] [options]

scenarios (default: all): ${scenarios.map((s) => s.name).join(', ')}

options:
  --quick               short runs (each scenario under 30 s, all under 5 min)
  --compare LIST        also run through peers, side by side: haproxy,nginx,pipe,floor
                        (pipe: a plain Node socket.pipe proxy, what Node gives for free;
                        floor: a bare relay on Switchyard's raw handles, Switchyard's worker
                        count of processes: what Node.js itself costs)
  --workers N           Switchyard's workers (default: its own default, auto)
  --peer-workers N      HAProxy threads / NGINX workers (default 2)
  --repeat N            runs per measurement, median shown (default 1 quick, 3 full)
  --duration SECONDS    measured seconds per steady-state run (default 1.5 quick, 5 full)
  --rate N              open-loop latency: offered requests/s (default 5000)
  --ops-rate N          switchover: operations/s (default 500)
  --stall-ms N          switchover: an operation slower than this is stalled (default 500)
  --op-timeout-ms N     an operation not done by then has failed (default 2000)
  --idle N              idle-connections: connections held (default 8000; 2000 with --quick)
  --out DIR             where the JSON, markdown and SVGs go (default bench/results)
  --no-progress         no progress line on stderr
  --keep                keep the scratch directory (generated configs, proxy logs)
  --profile             run Switchyard under node --cpu-prof; profiles go next to the results
`;

function int(name: string, v: string | undefined, min = 1): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} needs a number ≥ ${min}, got ${v ?? 'nothing'}`);
  return n;
}

export function parseArgs(argv: string[]): Args {
  const a: Args = {
    scenarios: [],
    quick: false,
    compare: [],
    peerWorkers: 2,
    rate: 5000,
    opsRate: 500,
    stallMs: 500,
    opTimeoutMs: 2000,
    progress: true,
    keep: false,
    profile: false,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => inline ?? argv[++i] ?? '';
    switch (flag) {
      case '--quick':
        a.quick = true;
        break;
      case '--compare':
        a.compare = value().split(',').map((s) => s.trim()).filter(Boolean);
        for (const c of a.compare) if (!PEERS.includes(c)) throw new Error(`--compare takes ${PEERS.join(', ')}, not ${c}`);
        break;
      case '--workers':
        a.workers = int('--workers', value());
        break;
      case '--peer-workers':
        a.peerWorkers = int('--peer-workers', value());
        break;
      case '--repeat':
        a.repeat = int('--repeat', value());
        break;
      case '--duration':
        a.durationMs = Number(value()) * 1000;
        if (!(a.durationMs >= 100)) throw new Error('--duration needs seconds ≥ 0.1');
        break;
      case '--rate':
        a.rate = int('--rate', value());
        break;
      case '--ops-rate':
        a.opsRate = int('--ops-rate', value());
        break;
      case '--stall-ms':
        a.stallMs = int('--stall-ms', value());
        break;
      case '--op-timeout-ms':
        a.opTimeoutMs = int('--op-timeout-ms', value());
        break;
      case '--idle':
        a.idle = int('--idle', value());
        break;
      case '--out':
        a.out = value();
        break;
      case '--no-progress':
        a.progress = false;
        break;
      case '--keep':
        a.keep = true;
        break;
      case '--profile':
        a.profile = true;
        break;
      case '-h':
      case '--help':
        a.help = true;
        break;
      default:
        if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
        if (!scenarios.some((s) => s.name === arg)) throw new Error(`unknown scenario ${arg} (known: ${scenarios.map((s) => s.name).join(', ')})`);
        a.scenarios.push(arg);
    }
  }
  return a;
}
