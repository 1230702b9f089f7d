// Package deploy holds the deployment recipes of docs/deploy.md, one
// folder per platform, and the tests that check them against each
// platform's own schema (Kubernetes API types, the AWS SDK's ECS types, the
// compose-spec loader, systemd-analyze, sh -n). It is a module of its own
// so that those libraries stay out of fleetgate's.
package deploy
