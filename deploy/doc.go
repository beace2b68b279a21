// Package deploy holds no code: its tests check the deployment files (the
// Compose file, the Kubernetes manifests, the component profiles) against
// each other and against the real API types.
package deploy
