import { request, type Agent } from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface HttpsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The client port of the connection it came on: the same port means the same socket. */
  localPort: number;
  /** The serial number of the certificate the server presented on that connection. */
  serial: string;
}

/** One HTTPS request over real TLS, trusting `ca` (or nothing but Node's defaults). */
export function httpsRequest(
  url: string,
  o: { ca?: string | Buffer; agent?: Agent; method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: o.method ?? 'GET',
      headers: o.headers ?? {},
      ...(o.agent ? { agent: o.agent } : { agent: false, ...(o.ca ? { ca: o.ca } : {}) }),
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${url} within 30 s`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const socket = res.socket as TLSSocket;
      const localPort = socket.localPort ?? 0;
      const serial = socket.getPeerCertificate().serialNumber;
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, localPort, serial }));
    });
    req.end(o.body);
  });
}
