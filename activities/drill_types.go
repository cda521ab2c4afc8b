package activities

// BranchReport counts what a drill's branch copied: the sealed view of the replica at its
// watermark, server-side copies inside the target's bucket.
type BranchReport struct {
	Objects int64 `json:"objects"` // blobs in the branch
	Bytes   int64 `json:"bytes"`
	// Copied counts the blobs the last attempt copied, and Resumed those it found copied
	// already by an earlier attempt (a worker that died mid-copy): Copied + Resumed is
	// Objects, and no blob an earlier attempt had copied is copied again.
	Copied  int64 `json:"copied"`
	Resumed int64 `json:"resumed,omitempty"`
	// Checked counts the blobs whose source time was read (HEAD) to tell whether they are at
	// or before the watermark: those copied since the watermark record was written.
	Checked int64 `json:"checked"`
	// Beyond counts the blobs the replica holds past the watermark, left out of the branch.
	Beyond int64 `json:"beyond"`
}

// SecurityCheck says whether the users and grants snapshot recorded in a bucket would apply
// in a failover: every name and grant line parses and validates, and which users would come
// up locked (no password reference in the configuration).
type SecurityCheck struct {
	Found   bool     `json:"found"`
	TakenIn string   `json:"takenIn,omitempty"` // the region it was read in
	Users   int      `json:"users"`
	Roles   int      `json:"roles"`
	Groups  int      `json:"groups"`
	Grants  int      `json:"grants"`
	Locked  []string `json:"locked,omitempty"`
	Problem string   `json:"problem,omitempty"` // why it would not apply; empty when it would
}
