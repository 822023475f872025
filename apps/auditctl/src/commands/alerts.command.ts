/**
 * `auditctl alerts test-delivery <destination> [--file]`: sends one test message (kind `test`, a
 * made-up alert of rule `delivery-test`, no identifiers) to a destination of ALERT_DESTINATIONS_FILE
 * through the same sender the service uses, straight from this machine, and says whether it
 * arrived. Exit code 0 when delivered, 1 when the destination refused or could not be reached,
 * 2 when the file or the name is wrong.
 */
import { Command } from 'commander';
import * as path from 'node:path';
import { DestinationConfigError, loadDestinations, senderFor, testMessage } from '@app/detection/delivery';

interface TestDeliveryOptions {
  file?: string;
  dataDir?: string;
  severity?: string;
}

export function alertsCommand(): Command {
  const alerts = new Command('alerts').description('alert delivery');
  alerts
    .command('test-delivery <destination>')
    .description('send a test message to one alert destination; exit code 1 when it does not arrive')
    .option('--file <path>', 'destinations file (default: $ALERT_DESTINATIONS_FILE)')
    .option('--severity <severity>', 'severity of the test alert (low, medium, high, critical)', 'low')
    .option('--data-dir <dir>', 'accepted like every command; the test reads no data')
    .action(async (name: string, opts: TestDeliveryOptions) => {
      const file = opts.file ?? process.env.ALERT_DESTINATIONS_FILE;
      if (!file) {
        process.stderr.write('auditctl: no destinations file (--file or ALERT_DESTINATIONS_FILE)\n');
        process.exitCode = 2;
        return;
      }
      let config;
      try {
        config = await loadDestinations(path.resolve(file));
      } catch (err) {
        if (!(err instanceof DestinationConfigError)) throw err;
        process.stderr.write(`${err.message}\n`);
        process.exitCode = 2;
        return;
      }
      const d = config.destinations.find((x) => x.name === name);
      if (!d) {
        process.stderr.write(`auditctl: no destination named "${name}" (configured: ${config.destinations.map((x) => x.name).join(', ') || 'none'})\n`);
        process.exitCode = 2;
        return;
      }
      const message = testMessage(d.name, config.consoleUrl ?? 'https://localhost:8443', opts.severity);
      const sender = senderFor(d);
      const started = Date.now();
      try {
        await sender.send(message);
        process.stdout.write(`delivered: test message ${message.deliveryId} to ${d.name} (${d.type}) in ${Date.now() - started} ms\n`);
      } catch (err) {
        process.stdout.write(`FAIL: ${d.name} (${d.type}): ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      } finally {
        sender.close();
      }
    });
  return alerts;
}
