package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// faultPoll is how often a node re-reads its fault control file.
const faultPoll = 100 * time.Millisecond

// faultSettings is what a fault control file says: partitions from the
// listed addresses, loss of outgoing packets, their delay.
type faultSettings struct {
	partition []net.Addr
	loss      float64
	delay     time.Duration
}

// parseFaults reads a fault control file's lines:
//
//	partition ADDR [ADDR…]   drop every packet to and from these UDP addresses
//	loss RATE                drop each outgoing packet with probability RATE (0 to 1)
//	delay DURATION           hold each outgoing packet back this long
//
// Blank lines and lines starting with # are ignored; an empty file means no
// fault. Errors name the line.
func parseFaults(data []byte) (faultSettings, error) {
	var fs faultSettings
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		bad := func(format string, args ...any) (faultSettings, error) {
			return faultSettings{}, fmt.Errorf("line %d: "+format, append([]any{n}, args...)...)
		}
		switch fields[0] {
		case "partition":
			if len(fields) == 1 {
				return bad("partition needs at least one address")
			}
			for _, a := range fields[1:] {
				addr, err := net.ResolveUDPAddr("udp", a)
				if err != nil {
					return bad("address %q: %v", a, err)
				}
				fs.partition = append(fs.partition, addr)
			}
		case "loss":
			rate, err := strconv.ParseFloat(strings.Join(fields[1:], ""), 64)
			if err != nil || len(fields) != 2 || rate < 0 || rate > 1 {
				return bad("loss needs one rate between 0 and 1")
			}
			fs.loss = rate
		case "delay":
			d, err := time.ParseDuration(strings.Join(fields[1:], ""))
			if err != nil || len(fields) != 2 || d < 0 {
				return bad("delay needs one non-negative duration, like 50ms")
			}
			fs.delay = d
		default:
			return bad("unknown fault %q (want partition, loss or delay)", fields[0])
		}
	}
	return fs, sc.Err()
}

// apply makes conn inject exactly the faults of fs.
func (fs faultSettings) apply(conn *transportquic.FaultConn) {
	conn.Heal()
	if len(fs.partition) > 0 {
		conn.Partition(fs.partition...)
	}
	conn.SetLoss(fs.loss)
	conn.SetDelay(fs.delay)
}

// faultConn opens the node's UDP socket wrapped in a FaultConn steered by
// the file at path, re-read every faultPoll until ctx ends: a test harness
// (a Jepsen-style nemesis) partitions, slows or degrades this node's
// network by writing the file. A file that does not parse is reported once
// per change and leaves the faults as they were.
func faultConn(ctx context.Context, listen, path string, log *slog.Logger) (*transportquic.FaultConn, error) {
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", listen, err)
	}
	conn := transportquic.NewFaultConn(pc, uint64(time.Now().UnixNano()))
	log = log.With("component", "faults", "file", path)
	log.Warn("network faults are steered by a control file: for testing only")
	go func() {
		var last []byte
		tick := time.NewTicker(faultPoll)
		defer tick.Stop()
		for {
			data, err := os.ReadFile(path)
			if os.IsNotExist(err) {
				data, err = nil, nil
			}
			if err == nil && (last == nil || !bytes.Equal(data, last)) {
				last = append([]byte{}, data...)
				if fs, perr := parseFaults(data); perr != nil {
					log.Error("fault control file not applied", "err", perr)
				} else {
					fs.apply(conn)
					log.Info("network faults set", "partitioned", len(fs.partition), "loss", fs.loss, "delay", fs.delay)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return conn, nil
}
