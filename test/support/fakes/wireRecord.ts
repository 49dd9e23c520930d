/** What every wire fake shares: the calls it got, the faults it plays by model, and its listener. */
import type http from 'node:http';
import type http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Fault, ReceivedCall, WireFake } from '../../contract/fixture';

export interface WireRecord extends Pick<WireFake, 'calls' | 'callsFor' | 'fail' | 'clear'> {
  faults: Map<string, Fault>;
}

/** `onClear`: what else the fake forgets on `clear()` (its own scripted breaks). */
export function wireRecord(onClear?: () => void): WireRecord {
  const calls: ReceivedCall[] = [];
  const faults = new Map<string, Fault>();
  return {
    calls,
    faults,
    callsFor: (model) => calls.filter((c) => c.model === model),
    fail: (model, fault) => void faults.set(model, fault),
    clear: () => {
      faults.clear();
      calls.length = 0;
      onClear?.();
    },
  };
}

/** The record's part of a WireFake (without its fault map). */
export const wireFakeOf = ({ faults: _faults, ...rest }: WireRecord) => rest;

/** Listens on 127.0.0.1 at a free port: its origin. */
export async function listenLocal(server: http.Server | http2.Http2Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes an HTTP/1.1 fake, dropping connections still open (a stream a test left hanging). */
export const closeServer = (server: http.Server) =>
  new Promise<void>((resolve, reject) => {
    server.closeAllConnections();
    server.close((err) => (err ? reject(err) : resolve()));
  });
