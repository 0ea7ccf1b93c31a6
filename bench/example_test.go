package bench_test

import (
	"fmt"

	"github.com/jangada-io/jangada/bench"
)

func ExampleParseFlags() {
	cfg, err := bench.ParseFlags([]string{"-quick"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Systems, cfg.Clients, cfg.Sizes, cfg.Rounds)
	// Output: [headline jangada/mem+fsync-floor jangada/quic+wal jangada/quic+memory jangada/mem+memory ceiling] [1 64 256] [64] 2
}
