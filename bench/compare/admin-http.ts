/** A tiny HTTP client for admin APIs on loopback, with a kept-alive connection so 10 ms polling stays cheap. */
import { Agent, request } from 'node:http';

const agent = new Agent({ keepAlive: true, maxSockets: 2 });

export function httpJson(method: 'GET' | 'POST', host: string, port: number, path: string, timeoutMs = 2000): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}
