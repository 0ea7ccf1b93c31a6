module github.com/jangada-io/jangada/transport-mem

go 1.26
