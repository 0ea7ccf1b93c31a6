module github.com/jangada-io/jangada/store-badger

go 1.26
