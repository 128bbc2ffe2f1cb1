// The ceiling for any Node.js HTTP server on this machine: a bare node:http server answering a
// constant JSON body. Every other figure of the benchmark is a ratio to this one.
import { createServer } from 'node:http';

const body = JSON.stringify([{ tokenSerialNumber: '014010008031', tokenStatus: 'Enabled' }]);
const port = Number(process.argv[2] ?? 0);
createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(port, '127.0.0.1', () => console.log(`baseline listening on ${port}`));
