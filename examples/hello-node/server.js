// devkube example: answers "Hello World" on / (no npm dependencies, just node:http).
const http = require('node:http')

const port = Number(process.env.PORT || 8080)

const server = http.createServer((request, response) => {
  if (request.url === '/' || request.url.startsWith('/?')) {
    response.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8'})
    response.end('Hello World\n')
    return
  }
  response.writeHead(404, {'Content-Type': 'text/plain; charset=utf-8'})
  response.end('Not Found\n')
})

server.listen(port, () => console.log(`hello-node listening on port ${port}`))

// Kubernetes stops a pod with SIGTERM: finish open requests, then exit.
process.on('SIGTERM', () => server.close(() => process.exit(0)))
