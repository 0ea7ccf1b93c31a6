package deploy_test

import (
	"fmt"

	"github.com/jangada-io/jangada/deploy"
)

func Example() {
	cfg, err := deploy.Parse([]byte(`
cluster_name: demo
environment: staging
nodes:
  - {node_id: 1, hostname: 10.0.0.1, port: 7001, http_port: 8001}
  - {node_id: 2, hostname: 10.0.0.2, port: 7001, http_port: 8001}
  - {node_id: 3, hostname: 10.0.0.3, port: 7001, http_port: 8001}
`), "/srv/demo")
	if err != nil {
		fmt.Println(err)
		return
	}
	files, err := deploy.Render(cfg, deploy.TargetSystemd)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range files {
		fmt.Println(f.Path)
	}
	// Output:
	// jangada-demo-node1.service
	// node1.env
	// jangada-demo-node2.service
	// node2.env
	// jangada-demo-node3.service
	// node3.env
}

func ExampleParse_invalid() {
	_, err := deploy.Parse([]byte(`
cluster_name: demo
environment: production
nodes:
  - {node_id: 1, hostname: 10.0.0.1, port: 70001, http_port: 8001, resources: {max_memory_mb: 1024}}
`), "/srv/demo")
	fmt.Println(err)
	// Output:
	// deploy: invalid config: 2 problems:
	//   - nodes[0].port: 70001 is not a port; want a number from 1 to 65535
	//   - replicas: 1 voters in production; want at least 3, so that one node can fail or be updated
}
