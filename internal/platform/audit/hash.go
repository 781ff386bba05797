package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/medplatform/medplatform/internal/platform/db"
)

// hashVersion names the canonical encoding below; it is hashed first so the
// encoding can change later without old and new records being confused.
const hashVersion = "medplatform.audit.v1"

// atLayout renders At for hashing: UTC, always six fractional digits.
const atLayout = "2006-01-02T15:04:05.000000Z"

// ComputeHash returns the hash that r must carry to be a valid link after
// r.PrevHash: the lowercase hex SHA-256 of the canonical encoding of every
// field except Hash.
//
// The canonical encoding is a sequence of netstrings — for each value, its
// length in bytes in decimal, a colon, the bytes, and a comma — so that no
// two different records encode to the same bytes. The values, in order:
//
//	"medplatform.audit.v1", PrevHash, Seq, ID, At, OrgID, ActorID, ActorRole,
//	Action, ResourceType, ResourceID, PatientID, Outcome, RequestID,
//	ClientAddr, Detail
//
// Seq and Outcome are written in decimal; At is written in UTC truncated to
// the microsecond as 2006-01-02T15:04:05.000000Z, the precision both
// database engines keep, so a record read back from either hashes the same.
// For example, the first record begins with
// "20:medplatform.audit.v1,64:0000…0000,1:1,".
func ComputeHash(r Record) string {
	buf := make([]byte, 0, 512)
	for _, v := range []string{
		hashVersion,
		r.PrevHash,
		strconv.FormatInt(r.Seq, 10),
		r.ID,
		db.UTC(r.At).Format(atLayout),
		r.OrgID,
		r.ActorID,
		r.ActorRole,
		r.Action,
		r.ResourceType,
		r.ResourceID,
		r.PatientID,
		strconv.Itoa(r.Outcome),
		r.RequestID,
		r.ClientAddr,
		r.Detail,
	} {
		buf = strconv.AppendInt(buf, int64(len(v)), 10)
		buf = append(buf, ':')
		buf = append(buf, v...)
		buf = append(buf, ',')
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}
