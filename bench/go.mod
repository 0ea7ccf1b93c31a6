module github.com/jangada-io/jangada/bench

go 1.26.0
