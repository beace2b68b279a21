// Command etcd is etcd's own server (etcdmain, the etcd binary's main) at
// the version kube-apiserver's module names, for make test-k8s: Debian's
// etcd-server is 3.4, older than Kubernetes supports.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
