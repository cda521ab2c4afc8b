package activities

import "time"

// TailReport counts blobs of a returning region's folder and when they were written.
type TailReport struct {
	Objects     int64     `json:"objects"`
	Bytes       int64     `json:"bytes"`
	OldestWrite time.Time `json:"oldestWrite,omitzero"`
	NewestWrite time.Time `json:"newestWrite,omitzero"`
}

// RecoveredReport is a recovered branch (DESIGN 5.5): the returning region's whole folder
// rebuilt in the primary's bucket, attached there under its own name.
type RecoveredReport struct {
	Name     string `json:"name"` // attached as
	Region   string `json:"region"`
	Root     string `json:"root"` // its root path in the region's bucket
	Attached bool   `json:"attached"`
	Objects  int64  `json:"objects"` // the returning region's folder, as it stood
	Bytes    int64  `json:"bytes"`
	// Within counts server-side copies inside the primary's bucket (blobs it held already);
	// Crossed and CrossedBytes the tail copied across regions; Present what an earlier
	// attempt had copied.
	Within       int64 `json:"within"`
	Crossed      int64 `json:"crossed"`
	CrossedBytes int64 `json:"crossedBytes"`
	Present      int64 `json:"present,omitempty"`
}
