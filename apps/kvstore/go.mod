module github.com/jangada-io/jangada/apps/kvstore

go 1.26.0
