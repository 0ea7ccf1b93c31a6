package deploy

import (
	"errors"
	"testing"

	"github.com/jangada-io/jangada/mgmt"
)

func voters(leader uint64, active map[uint64]bool, learners ...uint64) mgmt.Status {
	st := mgmt.Status{ID: leader, Leader: leader}
	for id := uint64(1); id <= uint64(len(active)); id++ {
		st.Members = append(st.Members, mgmt.Member{ID: id, Role: mgmt.RoleVoter, Active: active[id], Progress: true})
	}
	for _, id := range learners {
		st.Members = append(st.Members, mgmt.Member{ID: id, Role: mgmt.RoleLearner, Progress: true})
	}
	return st
}

// TestQuorumCheckRefusesStepsThatLoseTheQuorum: taking a voter down (for a
// restart or for good) must leave a quorum of healthy voters.
func TestQuorumCheckRefusesStepsThatLoseTheQuorum(t *testing.T) {
	all3 := map[uint64]bool{1: true, 2: true, 3: true}
	one3Down := map[uint64]bool{1: true, 2: true, 3: false}
	tests := []struct {
		name     string
		st       mgmt.Status
		down     uint64
		removing bool
		refused  bool
	}{
		{"restart a follower of three healthy voters", voters(1, all3), 2, false, false},
		{"restart a follower while another is down", voters(1, one3Down), 2, false, true},
		{"restart the down voter itself", voters(1, one3Down), 3, false, false},
		{"remove a follower of three healthy voters", voters(1, all3), 3, true, false},
		{"remove a healthy follower while another is down", voters(1, one3Down), 2, true, true},
		{"remove the down voter", voters(1, one3Down), 3, true, false},
		{"remove the last voter", voters(1, map[uint64]bool{1: true}), 1, true, true},
		{"restart the only voter", voters(1, map[uint64]bool{1: true}), 1, false, true},
		{"a learner never counts", voters(1, one3Down, 4), 4, true, false},
		{"five voters, two down, restart a third", voters(1, map[uint64]bool{1: true, 2: true, 3: true, 4: false, 5: false}), 3, false, true},
		{"five voters, one down, restart another", voters(1, map[uint64]bool{1: true, 2: true, 3: true, 4: true, 5: false}), 3, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := quorumCheck(tt.st, tt.down, tt.removing)
			if got := errors.Is(err, ErrQuorum); got != tt.refused {
				t.Fatalf("quorumCheck: %v, refused %v, want %v", err, got, tt.refused)
			}
		})
	}
}
