package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jangada-io/jangada/discovery"
	"github.com/jangada-io/jangada/mgmt"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// discoverCmd probes every endpoint over jangada/discovery/1: unlike the
// other commands it needs no running member, so it shows nodes that are
// still forming a cluster (--bootstrap-expect) and what they wait for.
func discoverCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "discover",
		Short: "Show each endpoint's node: forming (and what it waits for), formed, or a member",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			endpoints, err := mgmt.ParseEndpoints(g.endpoints)
			if err != nil {
				return usageError{err}
			}
			tr, err := g.probeTransport()
			if err != nil {
				return err
			}
			defer tr.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
			defer cancel()
			infos := discovery.Probe(ctx, tr, endpoints)
			if g.json {
				type jsonInfo struct {
					Address  string `json:"address"`
					ID       uint64 `json:"id,omitempty"`
					State    string `json:"state,omitempty"`
					Waiting  string `json:"waiting,omitempty"`
					LockedBy uint64 `json:"locked_by,omitempty"`
					Leader   uint64 `json:"leader,omitempty"`
					Members  int    `json:"members,omitempty"`
					Error    string `json:"error,omitempty"`
				}
				out := make([]jsonInfo, 0, len(infos))
				for _, in := range infos {
					ji := jsonInfo{Address: in.Addr, ID: in.ID, State: in.State, Waiting: in.Waiting, LockedBy: in.LockedBy, Leader: in.Leader, Members: in.Members}
					if in.Err != nil {
						ji.Error = in.Err.Error()
					}
					out = append(out, ji)
				}
				return g.printJSON(out)
			}
			var rows [][]string
			for _, in := range infos {
				detail := in.Waiting
				switch {
				case in.Err != nil:
					detail = in.Err.Error()
				case in.State == discovery.StateMember:
					detail = fmt.Sprintf("leader %d, %d members", in.Leader, in.Members)
				case in.LockedBy != 0:
					detail = strings.TrimSpace(fmt.Sprintf("promised to form with node %d; %s", in.LockedBy, detail))
				}
				id, state := "-", "unreachable"
				if in.Err == nil {
					id, state = strconv.FormatUint(in.ID, 10), in.State
				}
				rows = append(rows, []string{in.Addr, id, state, detail})
			}
			g.table("ADDRESS\tID\tSTATE\tDETAIL", rows)
			return nil
		},
	}
}

// probeTransport builds a QUIC transport with the command's credentials,
// as dial does, without dialling a management server.
func (g *globals) probeTransport() (*transportquic.Transport, error) {
	if g.secretFile == "" && g.identity == "" {
		return nil, usageError{errors.New("credentials needed: --cluster-secret-file FILE or --identity KEYFILE")}
	}
	var idBytes [8]byte
	_, _ = rand.Read(idBytes[:])
	cfg := transportquic.Config{NodeID: 1<<62 | binary.BigEndian.Uint64(idBytes[:])>>2, ListenAddr: "127.0.0.1:0"}
	var err error
	if g.identity != "" {
		if cfg.Identity, err = transportquic.LoadIdentity(g.identity); err != nil {
			return nil, err
		}
	} else if cfg.Identity, err = transportquic.GenerateIdentity(); err != nil {
		return nil, err
	}
	if g.secretFile != "" {
		secret, err := os.ReadFile(g.secretFile)
		if err != nil {
			return nil, err
		}
		cfg.ClusterSecret = []byte(strings.TrimSpace(string(secret)))
	}
	return transportquic.New(cfg)
}
