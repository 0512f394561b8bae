// Package deploy holds the files for running gwanje outside a checkout
// (Kubernetes, compose, systemd, the Grafana dashboard, the Prometheus rules)
// and, in its tests, their offline checks: everything that cannot run on a
// build machine without Docker or Kubernetes is parsed and compared with the
// code (metric names with METRICS.md, settings with gwanjed's flags, ports
// and probe paths with its defaults). See README.md beside this file.
package deploy
