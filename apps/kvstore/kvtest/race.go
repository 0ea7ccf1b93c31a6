package kvtest

import (
	"os"
	"strings"
)

// raceReportBytes bounds how much of a data race report DataRace returns.
const raceReportBytes = 4000

// DataRace returns the first data race report in the log at path (the
// race detector's "WARNING: DATA RACE" and what follows it, up to 4000
// bytes), or "" when it has none. A test that runs processes of its own
// (not through a Cluster) checks their logs with it.
func DataRace(path string) (string, error) {
	log, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	i := strings.Index(string(log), "WARNING: DATA RACE")
	if i < 0 {
		return "", nil
	}
	return string(log[i:min(len(log), i+raceReportBytes)]), nil
}
