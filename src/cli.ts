#!/usr/bin/env node
/**
 * The command line: `switchyard -c FILE`, quick mode (`--listen --backend`),
 * `switchyard check -c FILE`, `switchyard demo`; signals (HUP reloads,
 * TERM/INT drain and exit).
 */
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { Switchyard } from './balancer.js';
import { configFromArgs, loadConfigFile } from './config/load.js';
import type { Config } from './config/types.js';
import { runPrimary } from './cluster/primary.js';
import { runWorker } from './cluster/worker.js';
import { runDemo } from './demo.js';
import { createLogger } from './observe/logger.js';

const usage = `Usage:
  switchyard -c FILE                      run with a config file (SIGHUP reloads it)
  switchyard --listen ADDR --backend ADDR [--backend ADDR ...]
             [--udp] [--balance ALGO] [--check KIND] [--admin ADDR]
                                          run as a drop-in proxy, no file needed
  switchyard check -c FILE                validate a config file: exit 0, or 1 with the errors
  switchyard demo                         local demo backends with the balancer in front

Options:
  -c, --config FILE     YAML config (see config.example.yaml)
  --listen ADDR         host:port or [v6]:port to listen on (quick mode)
  --backend ADDR        a member (repeat for more)
  --udp                 UDP instead of TCP (quick mode)
  --balance ALGO        roundrobin | leastconn | random2 | maglev | first
  --check KIND          health check kind for the members (tcp, http, redis, ...)
  --admin ADDR          admin API address (quick mode), e.g. 127.0.0.1:9901
  -h, --help            this text
  -v, --version         the version
`;

const options = {
  config: { type: 'string', short: 'c' },
  listen: { type: 'string' },
  backend: { type: 'string', multiple: true },
  udp: { type: 'boolean' },
  balance: { type: 'string' },
  check: { type: 'string' },
  admin: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

function fail(message: string): never {
  process.stderr.write(`switchyard: ${message}\n`);
  process.exit(1);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function main(argv: string[]): Promise<void> {
  // A cluster worker takes its config from the primary (src/cluster/worker.ts), not from the command line.
  if (cluster.isWorker) return runWorker(logUncaught(createLogger({ level: 'info' })));
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    fail(`${errorText(err)}\n\n${usage}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  if (values.version) {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`switchyard ${pkg.version}\n`);
    return;
  }
  const command = positionals[0] ?? 'run';
  if (positionals.length > 1 || !['run', 'check', 'demo'].includes(command)) fail(`unknown command: ${positionals.join(' ')}\n\n${usage}`);

  if (command === 'demo') return runDemo();
  if (command === 'check') {
    if (!values.config) fail('check needs -c FILE');
    try {
      const config = await loadConfigFile(values.config);
      process.stdout.write(`${values.config}: ok (${config.services.length} service${config.services.length === 1 ? '' : 's'})\n`);
      return;
    } catch (err) {
      process.stderr.write(`${errorText(err)}\n`);
      process.exit(1);
    }
  }

  let config: Config;
  try {
    if (values.config) {
      if (values.listen || values.backend) fail('give either -c FILE or --listen/--backend, not both');
      config = await loadConfigFile(values.config);
    } else if (values.listen && values.backend?.length) {
      config = configFromArgs({
        listen: values.listen,
        backends: values.backend,
        udp: values.udp ?? false,
        balance: values.balance,
        check: values.check,
        admin: values.admin,
      });
    } else {
      fail(`nothing to run: give -c FILE, or --listen and --backend\n\n${usage}`);
    }
  } catch (err) {
    fail(errorText(err));
  }
  await run(config, values.config);
}

/** The process keeps serving whatever a bug somewhere throws; it is logged loudly instead. */
function logUncaught(logger: Logger): Logger {
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  return logger;
}

/** SIGHUP reloads; SIGTERM/SIGINT stop (drain) and exit 0; a second stop signal exits at once. */
function onSignals(logger: Logger, target: { reload(): Promise<unknown>; stop(signal: string): Promise<void> }): void {
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading the config');
    void target.reload();
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    void target.stop(signal).then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function run(config: Config, configFile: string | undefined): Promise<void> {
  const logger = logUncaught(createLogger({ level: config.log.level }));
  if (config.workers > 1) {
    onSignals(logger, await runPrimary(config, configFile, logger));
    return;
  }
  const lb = new Switchyard(config, { configFile, logger });
  try {
    await lb.start();
  } catch (err) {
    logger.fatal({ err }, 'cannot start');
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    process.exit(1);
  }
  onSignals(logger, {
    reload: () => lb.reload(),
    stop: (signal) => {
      logger.info({ signal }, 'stopping');
      return lb.stop();
    },
  });
}

main(process.argv.slice(2)).catch((err: unknown) => fail(errorText(err)));
