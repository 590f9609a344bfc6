'use strict';
// Benchmark peer: count AMI events with the npm package asterisk-manager.
//
// usage: node ami_count.js HOST PORT USER SECRET COUNT [TIMEOUT]
//
// Logs in, counts 'managerevent' events until COUNT arrived, the server
// closed the connection, or TIMEOUT seconds (default 600) passed.  Prints
// "count seconds" (seconds from connect to the last event counted).

const argv = process.argv.slice(2);
if (argv.length < 5 || argv.length > 6) {
  process.stderr.write('usage: node ami_count.js HOST PORT USER SECRET COUNT [TIMEOUT]\n');
  process.exit(2);
}
const [host, port, user, secret] = argv;
const want = Number(argv[4]);
const limit = argv.length > 5 ? Number(argv[5]) : 600;

let n = 0;
let last = null;
let done = false;
const t0 = process.hrtime.bigint();

function finish(why) {
  if (done) return;
  done = true;
  const t1 = last !== null ? last : process.hrtime.bigint();
  process.stdout.write(n + ' ' + (Number(t1 - t0) / 1e9).toFixed(6) + '\n');
  if (why !== 'count')
    process.stderr.write('ami_count: stopped on ' + why + ' after ' + n + ' of ' + want + ' events\n');
  process.exit(0);
}

const ami = require('asterisk-manager')(Number(port), host, user, secret, true);
ami.on('managerevent', function () {
  n++;
  last = process.hrtime.bigint();
  if (n >= want) finish('count');
});
// events are emitted on process.nextTick: let the ones already queued run
ami.on('close', function () { setImmediate(function () { finish('close'); }); });
ami.on('error', function (e) { process.stderr.write('ami_count: ' + e + '\n'); });
setTimeout(function () { finish('timeout'); }, limit * 1000).unref();
