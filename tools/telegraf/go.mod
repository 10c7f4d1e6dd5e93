// Telegraf with only the plugins Mammatus renders (build tags: custom,inputs.cpu,inputs.mem,
// inputs.disk,inputs.net,inputs.system,outputs.influxdb_v2), so tests load the rendered config
// with the real agent. Not tidied: a test-only dependency of a telegraf dependency
// (bou.ke/monkey) is refused by the Go module proxy; the build itself needs only these sums.
module mammatus.local/tools/telegraf

go 1.26.6

require github.com/influxdata/telegraf v1.37.2
