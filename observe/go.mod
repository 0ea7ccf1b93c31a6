module github.com/jangada-io/jangada/observe

go 1.26.0
