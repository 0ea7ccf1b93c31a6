module github.com/jangada-io/jangada/store-pebble

go 1.26
