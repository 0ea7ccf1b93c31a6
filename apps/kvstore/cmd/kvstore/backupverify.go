package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/app"
	"github.com/jangada-io/jangada/backup"
)

// newVerifyBackupCommand checks a backup as jangadactl backup verify does
// and also restores it into a scratch kvstore state machine.
func newVerifyBackupCommand(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify-backup DIR|s3://BUCKET/PREFIX",
		Short: "Check a backup against its manifest and restore it into a scratch kvstore (the newest unless --backup)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := backup.OpenTarget(args[0])
			if err != nil {
				return err
			}
			name, _ := cmd.Flags().GetString("backup")
			scratch := kvstore.NewMachine()
			m, err := backup.Verify(cmd.Context(), target, name, backup.VerifyOptions{StateMachine: app.StateMachineName, Scratch: scratch})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "backup %s restores: %d keys at index %d, %d bytes of state, sha256 %s\n",
				m.Name, scratch.Len(), m.Index, m.StateSize, m.StateSHA256)
			return err
		},
	}
	cmd.Flags().String("backup", "", "the backup's name (default: the newest)")
	return cmd
}
