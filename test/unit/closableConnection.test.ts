/**
 * A client connection closed while one of its calls waits to be retried. The SDK's retry timer,
 * firing after a plain `Connection.close()`, throws "Channel has been shut down" out of the timer
 * (an uncaught exception that fails whichever test runs then, and the call never settles).
 */
import net from 'node:net';
import { connectClosable } from '../../src/temporal/closableConnection';
import { until } from '../support/chaos';

/** A loopback port with nothing listening: every call fails UNAVAILABLE, which the SDK retries. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

it('closes while a call waits to be retried: the call ends with an error, nothing is thrown from a timer', async () => {
  const closable = await connectClosable({ address: `127.0.0.1:${await deadPort()}` }, { lazy: true });
  const outcome = closable.connection.workflowService.getSystemInfo({}).then(
    () => 'answered',
    (err: unknown) => err,
  );
  await until(() => closable.retriesWaiting() > 0);
  await closable.close();
  // The retry began on the open channel, then ended with the close: an error, not a hang.
  expect(await outcome).toBeInstanceOf(Error);
});
