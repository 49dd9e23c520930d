/**
 * Entry point. `npm start` → all in one (dev server unless TEMPORAL_ADDRESS, worker, API);
 * `npm run worker` / `npm run api` → one half each, for production.
 */
import { ConfigError, loadConfig } from './config';
import { createLogger } from './logger';
import { stopWithin } from './start/stopWithin';
import { startSwitchyard, type Role } from './start/switchyard';

const ROLES: Role[] = ['all', 'worker', 'api'];

async function main(): Promise<void> {
  const role = (process.argv[2] ?? 'all') as Role;
  if (!ROLES.includes(role)) throw new ConfigError(`Unknown role '${role}': use one of ${ROLES.join(', ')}.`);
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const app = await startSwitchyard(config, { role, logger });

  const lines = [
    '',
    `Switchyard is running (${role === 'all' ? 'all in one' : role}).`,
    app.apiUrl && `  API:          ${app.apiUrl}/v1   (OpenAI-compatible)`,
    app.apiUrl && `  Console:      ${app.apiUrl}/console   (sign in with an API key)`,
    app.grpcAddress && `  gRPC:         ${app.grpcAddress}   (switchyard.v1.Switchyard, proto/switchyard/v1)`,
    `  Temporal:     ${app.temporalAddress}${app.temporalUiUrl ? '   (dev server started by Switchyard)' : ''}`,
    app.temporalUiUrl && `  Temporal UI:  ${app.temporalUiUrl}`,
    // The exact command for this server (ports and namespace may not be the defaults).
    `  Temporal CLI: ${app.temporalCli} workflow list --address ${app.temporalAddress} --namespace ${config.TEMPORAL_NAMESPACE}`,
    // The key itself only on the start that created it: later banners (and logs) never show it.
    app.apiKey &&
      `  API key:      ${
        app.apiKeySource === 'generated'
          ? `${app.apiKey}   (an operator key, generated now and kept in ${app.apiKeyFile}; shown this once)`
          : app.apiKeySource === 'file'
            ? `${app.apiKey.slice(0, 14)}…   (operator key, generated at the first start: in ${app.apiKeyFile})`
            : `${app.apiKey.slice(0, 14)}…   (operator key, from SWITCHYARD_BOOTSTRAP_KEY)`
      }`,
    `  Database:     ${app.db.kind === 'pglite' ? `embedded PGlite in ${config.SWITCHYARD_DATA_DIR}/pglite` : 'PostgreSQL (DATABASE_URL)'}`,
    `  Providers:    ${app.configStore
      .current()
      .config.catalog.providers.map((p) => p.id)
      .join(
        ', ',
      )}   (config version ${app.configStore.current().version}${config.SWITCHYARD_CONFIG ? `, from ${config.SWITCHYARD_CONFIG}` : ''})`,
    app.simulated &&
      '  Note: no provider key is set (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY…), so the built-in SIMULATED provider answers (offline, deterministic).',
    app.apiUrl &&
      `\n  Try: curl ${app.apiUrl}/v1/chat/completions -H "Authorization: Bearer ${app.apiKeySource === 'generated' ? app.apiKey : '$SWITCHYARD_KEY'}" -H "Content-Type: application/json" -d '{"model":"auto","messages":[{"role":"user","content":"Hello"}]}'`,
    '',
    'Press Ctrl-C to stop.',
    '',
  ].filter(Boolean);
  process.stdout.write(`${lines.join('\n')}\n`);

  // Every stop is bounded: past SWITCHYARD_SHUTDOWN_TIMEOUT_MS, what is still stuck (a client
  // holding a transaction, say) is abandoned and we exit 1. Every exit path, this one included,
  // kills the dev server (devServer.ts), so nothing is left behind.
  const graceMs = config.SWITCHYARD_SHUTDOWN_TIMEOUT_MS;
  let stoppingSince: number | undefined;
  const stopThenExit = (code: number) => {
    stoppingSince ??= Date.now();
    void stopWithin(
      () => app.stop(),
      graceMs,
      () => app.stopStep(),
    ).then((outcome) => {
      if (outcome.stopped) {
        process.stdout.write('Stopped.\n');
        process.exit(code);
      }
      process.stderr.write(
        outcome.error !== undefined
          ? `Error while stopping: ${String(outcome.error)}\n`
          : `Stopping did not finish within ${graceMs / 1000} s (still ${outcome.stuckAt ?? 'stopping'}): exiting without it.\n`,
      );
      process.exit(1);
    });
  };
  const shutdown = (signal: string) => {
    if (stoppingSince !== undefined) {
      // One Ctrl-C can reach us twice (from the terminal's process group and relayed by npm);
      // only a second press, later, forces the exit.
      if (Date.now() - stoppingSince < 2_000) return;
      process.stderr.write(`Forced exit (still ${app.stopStep() ?? 'stopping'}).\n`);
      process.exit(1);
    }
    process.stdout.write(`\n${signal} received: stopping (at most ${graceMs / 1000} s)…\n`);
    stopThenExit(0);
  };
  // A Temporal call still retrying when its connection closed during shutdown throws from a gRPC
  // timer: nothing is lost then (the process is stopping), so it must not turn a clean stop into
  // exit code 1. Anything else uncaught ends the process as Node would.
  process.on('uncaughtException', (err) => {
    if (stoppingSince !== undefined && err.message === 'Channel has been shut down') return;
    process.stderr.write(`${err.stack ?? String(err)}\n`);
    process.exit(1);
  });
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  app.workerDone?.catch((err: unknown) => {
    logger.fatal({ err }, 'worker crashed');
    if (stoppingSince === undefined) stopThenExit(1);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`\nSwitchyard could not start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
