// A real S3-protocol server (s3rver) for tests, run as a child process so a test can kill it
// (target down) and start it again on the same port and data folder.
const S3rver = require('s3rver');
const [port, directory] = process.argv.slice(2);
new S3rver({ address: '127.0.0.1', port: Number(port), directory, silent: true, configureBuckets: [{ name: 'backups' }] })
  .run()
  .then(() => process.stdout.write(`${JSON.stringify({ msg: 's3rver ready', port: Number(port) })}\n`))
  .catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
