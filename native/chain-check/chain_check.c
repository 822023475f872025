/*
 * Native fast path of chain verification: a SQLite loadable extension, loaded into the verifying
 * connection (better-sqlite3's db.loadExtension) by libs/storage/src/sqlite/native-chain-check.ts.
 *
 * audit_chain_check(head, seq, received_at, event, sealed, prev_hash, hash, id, category, action,
 * outcome, actor_id, occurred_ms, patient_id, pos) is an aggregate over one page of a chain's rows in
 * seq order. For each row it does, in C and in the page query itself, what SqliteChainReader's
 * fast path does in JavaScript: opens the sealed fields (AES-256-GCM keystream, tag not checked:
 * the hash covers the plaintext), splices them into the stored text, hashes
 * prev_hash || {"chain":..,"event":..,"receivedAt":..,"seq":..} with SHA-256, compares the stored
 * hash, and compares the derived columns with the hashed record's fields. It returns one blob:
 *
 *   header (16 bytes): u32 rows, u32 offset of the pending section, u32 offset of a key id the
 *   connection lacks (0: none), u32 its length;
 *   per row (ENTRY bytes): i64 seq, i64 pos, prev_hash[32], hash[32], u8 status, u8 links, u16 0,
 *   u32 offset of the row's patient pair in the pending section;
 *   pending section: per pending row u32 id length, id bytes, u32 column length, column bytes.
 *
 * status: 0 checked (hash and every column); 1 checked but for the patient column, which is left
 * to JavaScript: the connection has no tokenization key, or the id is not its own canonical form,
 * or the column is not the id's token (the pair is in the pending section; 2: the same for a row
 * stored before field encryption, whose column may hold the id itself); 3 anything else: a hash or column
 * that differs, a type or size not expected, text that is not ASCII, an escape in a compared field,
 * an unknown key. Status 3 rows are read again and judged by the JavaScript path row by row, so every
 * break is named exactly as before. links: 1 when the row is one of statuses 0-2, follows such a row
 * with the next seq and its prev_hash equals that row's hash.
 *
 * audit_data_key(key_id, key) gives the connection an AES-256 data key; audit_token_key(key) the
 * tokenization key, with which the patient column is checked here (HMAC-SHA256, as PatientTokenizer);
 * audit_patient_ok(pairs) records (id, column) pairs JavaScript found to be token and id (same
 * pending-section form), so the pair is checked here next time. All live as long as the connection.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY 88
#define HEADER 16
#define MAX_KEYS 64
/* Confirmed (patient id, token) pairs: open addressing, bytes kept in the slot (one cache line or two). */
#define PAIR_BYTES 80
#define PAIR_MIN_SLOTS (1u << 10)
#define PAIR_MAX_SLOTS (1u << 16)

typedef struct {
  unsigned char id[64];
  int idLen;
  EVP_CIPHER_CTX *ecb;
} DataKey;

typedef struct {
  uint64_t h; /* 0: empty */
  uint16_t idLen, colLen;
  unsigned char bytes[PAIR_BYTES]; /* id || column */
} Pair;

/* HMAC-SHA256 under the tokenization key, its inner and outer pads already hashed. */
typedef struct {
  int set;
  SHA256_CTX inner, outer;
} TokenKey;

typedef struct {
  DataKey keys[MAX_KEYS];
  int nKeys;
  Pair *pairs;
  unsigned pairSlots, pairCount;
  TokenKey token;
} Conn;

typedef struct {
  unsigned char *p;
  size_t len, cap;
  int oom;
} Buf;

static int reserve(Buf *b, size_t n) {
  if (b->len + n <= b->cap) return 1;
  size_t cap = b->cap ? b->cap * 2 : 4096;
  while (cap < b->len + n) cap *= 2;
  unsigned char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return 0;
  }
  b->p = p;
  b->cap = cap;
  return 1;
}

static int put(Buf *b, const void *src, size_t n) {
  if (!reserve(b, n)) return 0;
  memcpy(b->p + b->len, src, n);
  b->len += n;
  return 1;
}

/* Little-endian, whatever the host (the reader reads readUInt32LE). */
static void put32(unsigned char *at, uint32_t v) {
  at[0] = v & 0xff;
  at[1] = (v >> 8) & 0xff;
  at[2] = (v >> 16) & 0xff;
  at[3] = v >> 24;
}

static uint32_t get32(const unsigned char *at) { return (uint32_t)at[0] | ((uint32_t)at[1] << 8) | ((uint32_t)at[2] << 16) | ((uint32_t)at[3] << 24); }

static void put64(unsigned char *at, sqlite3_int64 v) {
  put32(at, (uint32_t)((uint64_t)v & 0xffffffffu));
  put32(at + 4, (uint32_t)((uint64_t)v >> 32));
}

static sqlite3_int64 get64(const unsigned char *at) { return (sqlite3_int64)((uint64_t)get32(at) | ((uint64_t)get32(at + 4) << 32)); }

typedef struct {
  Buf out;     /* header + entries */
  Buf pending; /* patient pairs */
  Buf input;   /* hash input of the current row */
  Buf plain;   /* keystream / plaintext of the current row */
  Buf counters;
  uint32_t rows;
  unsigned char missingKey[64];
  int missingKeyLen;
} Page;

/* ---- pairs confirmed by JavaScript (a multiply-xorshift hash over 8-byte words of id, 0xff, column) ---- */

static uint64_t mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 29);
}

static uint64_t hashBytes(uint64_t h, const unsigned char *p, int n) {
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = mix(h, w);
  }
  uint64_t w = 0;
  for (int k = 0; k < n; k++) w |= (uint64_t)p[k] << (8 * k);
  return mix(h, w ^ ((uint64_t)n << 56));
}

static uint64_t pairHash(const unsigned char *id, int idLen, const unsigned char *col, int colLen) {
  uint64_t h = hashBytes(hashBytes(0x243f6a8885a308d3ull, id, idLen), col, colLen);
  return h ? h : 1;
}

static int pairKnown(Conn *c, const unsigned char *id, int idLen, const unsigned char *col, int colLen) {
  if (!c->pairs || idLen + colLen > PAIR_BYTES) return 0;
  uint64_t h = pairHash(id, idLen, col, colLen);
  unsigned mask = c->pairSlots - 1;
  for (unsigned i = (unsigned)h & mask;; i = (i + 1) & mask) {
    Pair *p = &c->pairs[i];
    if (!p->h) return 0;
    if (p->h == h && p->idLen == idLen && p->colLen == colLen && memcmp(p->bytes, id, idLen) == 0 && memcmp(p->bytes + idLen, col, colLen) == 0) return 1;
  }
}

static void insertPair(Pair *table, unsigned slots, const Pair *p) {
  unsigned mask = slots - 1, i = (unsigned)p->h & mask;
  while (table[i].h) i = (i + 1) & mask;
  table[i] = *p;
}

/* Keeps the table at most half full: it doubles up to PAIR_MAX_SLOTS, then starts again empty. */
static void addPair(Conn *c, const unsigned char *id, int idLen, const unsigned char *col, int colLen) {
  if (idLen + colLen > PAIR_BYTES || pairKnown(c, id, idLen, col, colLen)) return;
  if (!c->pairs || (c->pairCount + 1) * 2 > c->pairSlots) {
    unsigned slots = c->pairs ? c->pairSlots * 2 : PAIR_MIN_SLOTS;
    int keep = slots <= PAIR_MAX_SLOTS;
    if (!keep) slots = PAIR_MIN_SLOTS;
    Pair *table = calloc(slots, sizeof(Pair));
    if (!table) return;
    if (keep && c->pairs)
      for (unsigned i = 0; i < c->pairSlots; i++)
        if (c->pairs[i].h) insertPair(table, slots, &c->pairs[i]);
    if (!keep) c->pairCount = 0;
    free(c->pairs);
    c->pairs = table;
    c->pairSlots = slots;
  }
  Pair p;
  p.h = pairHash(id, idLen, col, colLen);
  p.idLen = (uint16_t)idLen;
  p.colLen = (uint16_t)colLen;
  memcpy(p.bytes, id, idLen);
  memcpy(p.bytes + idLen, col, colLen);
  insertPair(c->pairs, c->pairSlots, &p);
  c->pairCount++;
}

/* ---- the derived fields of the event JSON (DerivedFieldScan in C) ---- */

enum { F_ID = 0, F_CATEGORY = 2, F_ACTION = 4, F_OUTCOME = 6, F_ACTOR_ID = 8, F_OCCURRED = 10, F_PATIENT = 12, F_SLOTS = 14 };

typedef struct {
  const unsigned char *b;
  long end;
  long at[F_SLOTS];
  int escaped;
  int actorSeen, patientSeen;
} Scan;

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* The high bit of each zero byte of x (and maybe of bytes above one: the lowest set bit is exact). */
static inline uint64_t zeroBytes(uint64_t x) { return (x - ONES) & ~x & HIGHS; }

static long stringEnd(Scan *s, long i) {
  const unsigned char *b = s->b;
  const long end = s->end;
  for (i++; i < end; i++) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Eight bytes at a time to the next quote or backslash. */
    while (i + 8 <= end) {
      uint64_t w;
      memcpy(&w, b + i, 8);
      uint64_t hit = zeroBytes(w ^ (ONES * '"')) | zeroBytes(w ^ (ONES * '\\'));
      if (hit) {
        i += __builtin_ctzll(hit) >> 3;
        break;
      }
      i += 8;
    }
    if (i >= end) break;
#endif
    unsigned char c = b[i];
    if (c == '"') return i + 1;
    if (c == '\\') {
      s->escaped = 1;
      i++;
    }
  }
  return -1;
}

/* Whether every byte is below 0x80. */
static int allAscii(const unsigned char *p, long n) {
  uint64_t acc = 0;
  long k = 0;
  for (; k + 8 <= n; k += 8) {
    uint64_t w;
    memcpy(&w, p + k, 8);
    acc |= w;
  }
  for (; k < n; k++) acc |= p[k];
  return (acc & HIGHS) == 0;
}

static long valueEnd(Scan *s, long i) {
  const unsigned char *b = s->b;
  unsigned char c = b[i];
  if (c == '{' || c == '[') {
    int depth = 0;
    for (; i < s->end; i++) {
      unsigned char d = b[i];
      if (d == '"') {
        i = stringEnd(s, i) - 1;
        if (i < 0) return -1;
      } else if (d == '{' || d == '[') depth++;
      else if (d == '}' || d == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return -1;
  }
  for (; i < s->end; i++) {
    unsigned char d = b[i];
    if (d == ',' || d == '}' || d == ']') return i;
  }
  return -1;
}

static int keyIs(Scan *s, long ks, long ke, const char *name, long n) {
  return ke - ks - 2 == n && memcmp(s->b + ks + 1, name, n) == 0;
}

static int setString(Scan *s, int slot, long vs, long ve) {
  if (s->at[slot] != -1 || s->b[vs] != '"') return 0;
  s->at[slot] = vs;
  s->at[slot + 1] = ve;
  return 1;
}

static long scanObject(Scan *s, long i, int nestedSlot);

static int member(Scan *s, int nestedSlot, long ks, long ke, long vs, long ve) {
  if (nestedSlot >= 0) return keyIs(s, ks, ke, "id", 2) ? setString(s, nestedSlot, vs, ve) : 1;
  switch (ke - ks - 2) {
    case 2:
      return keyIs(s, ks, ke, "id", 2) ? setString(s, F_ID, vs, ve) : 1;
    case 5:
      if (!keyIs(s, ks, ke, "actor", 5)) return 1;
      if (s->actorSeen || s->b[vs] != '{') return 0;
      s->actorSeen = 1;
      return scanObject(s, vs, F_ACTOR_ID) >= 0;
    case 6:
      return keyIs(s, ks, ke, "action", 6) ? setString(s, F_ACTION, vs, ve) : 1;
    case 7:
      if (keyIs(s, ks, ke, "outcome", 7)) return setString(s, F_OUTCOME, vs, ve);
      if (!keyIs(s, ks, ke, "patient", 7)) return 1;
      if (s->patientSeen || s->b[vs] != '{') return 0;
      s->patientSeen = 1;
      return scanObject(s, vs, F_PATIENT) >= 0;
    case 8:
      return keyIs(s, ks, ke, "category", 8) ? setString(s, F_CATEGORY, vs, ve) : 1;
    case 10:
      return keyIs(s, ks, ke, "occurredAt", 10) ? setString(s, F_OCCURRED, vs, ve) : 1;
    default:
      return 1;
  }
}

static long scanObject(Scan *s, long i, int nestedSlot) {
  const unsigned char *b = s->b;
  if (i >= s->end || b[i] != '{') return -1;
  i++;
  if (i < s->end && b[i] == '}') return i + 1;
  for (;;) {
    if (i >= s->end || b[i] != '"') return -1;
    s->escaped = 0;
    long ke = stringEnd(s, i);
    if (ke < 0 || s->escaped || ke >= s->end || b[ke] != ':') return -1;
    long vs = ke + 1;
    if (vs >= s->end) return -1;
    long ve = b[vs] == '"' ? stringEnd(s, vs) : valueEnd(s, vs);
    if (ve < 0 || !member(s, nestedSlot, i, ke, vs, ve)) return -1;
    if (ve >= s->end) return -1;
    unsigned char c = b[ve];
    if (c == '}') return ve + 1;
    if (c != ',') return -1;
    i = ve + 1;
  }
}

static int hasEscape(Scan *s, int slot) {
  for (long i = s->at[slot] + 1, e = s->at[slot + 1] - 1; i < e; i++)
    if (s->b[i] == '\\') return 1;
  return 0;
}

/* ---- occurredAt: Date.parse of YYYY-MM-DDTHH:MM:SS.sssZ (Date.UTC, day overflow included) ---- */

static int dig(const unsigned char *b, int i) {
  int d = b[i] - '0';
  return d >= 0 && d <= 9 ? d : -100000;
}

static int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

/* 1 and *ms set when the literal content has the exact stored form; 0 otherwise (JavaScript decides). */
static int isoMillis(const unsigned char *b, long n, double *ms) {
  if (n != 24 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != '.' || b[23] != 'Z') return 0;
  int year = dig(b, 0) * 1000 + dig(b, 1) * 100 + dig(b, 2) * 10 + dig(b, 3);
  int month = dig(b, 5) * 10 + dig(b, 6), day = dig(b, 8) * 10 + dig(b, 9);
  int hour = dig(b, 11) * 10 + dig(b, 12), minute = dig(b, 14) * 10 + dig(b, 15);
  int second = dig(b, 17) * 10 + dig(b, 18), milli = dig(b, 20) * 100 + dig(b, 21) * 10 + dig(b, 22);
  if (!(year >= 100 && month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 &&
        second >= 0 && second <= 59 && milli >= 0))
    return 0;
  int64_t days = daysFromCivil(year, (unsigned)month, 1) + (day - 1);
  *ms = (double)(((days * 24 + hour) * 60 + minute) * 60 + second) * 1000.0 + milli;
  return 1;
}

/* ---- patient tokens (PatientTokenizer in C, for ids that are their own canonical form) ---- */

#define TOKEN_LEN 28 /* "ptk_" + 24 base32 characters */

static void cleanse(void *p, size_t n) {
  volatile unsigned char *v = p;
  while (n--) *v++ = 0;
}

static int setTokenKey(TokenKey *t, const unsigned char *key, int keyLen) {
  unsigned char k[64], pad[64];
  memset(k, 0, sizeof k);
  if (keyLen > 64) {
    SHA256_CTX h;
    SHA256_Init(&h);
    SHA256_Update(&h, key, (size_t)keyLen);
    SHA256_Final(k, &h);
    cleanse(&h, sizeof h);
  } else
    memcpy(k, key, (size_t)keyLen);
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
  SHA256_Init(&t->inner);
  SHA256_Update(&t->inner, pad, 64);
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
  SHA256_Init(&t->outer);
  SHA256_Update(&t->outer, pad, 64);
  cleanse(k, sizeof k);
  cleanse(pad, sizeof pad);
  t->set = 1;
  return 1;
}

/* Whether `p` starts with the ASCII `lower` (given in lower case), ignoring case. */
static int startsWithIgnoringCase(const unsigned char *p, int n, const char *lower) {
  int m = (int)strlen(lower);
  if (n < m) return 0;
  for (int i = 0; i < m; i++) {
    unsigned char c = p[i];
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
    if (c != (unsigned char)lower[i]) return 0;
  }
  return 1;
}

/*
 * The token of a patient id, as PatientTokenizer.token gives it: "ptk_" + base32 of the first 15
 * bytes of HMAC-SHA256(key, "patient-id:" + canonicalPatientId(id)). Only for ids that are already
 * canonical: printable ASCII without spaces (no Unicode pass applies) and not a FHIR reference
 * (`Patient/..`, `fhir:Patient/..`, any case). 0 otherwise: JavaScript decides.
 */
static int patientToken(const TokenKey *t, const unsigned char *id, int idLen, unsigned char out[TOKEN_LEN]) {
  if (!t->set) return 0;
  for (int i = 0; i < idLen; i++)
    if (id[i] < 0x21 || id[i] > 0x7e) return 0;
  if (startsWithIgnoringCase(id, idLen, "patient/") || startsWithIgnoringCase(id, idLen, "fhir:patient/")) return 0;
  static const char ALPHABET[] = "abcdefghijklmnopqrstuvwxyz234567";
  unsigned char inner[32], mac[32];
  SHA256_CTX h = t->inner;
  SHA256_Update(&h, "patient-id:", 11);
  SHA256_Update(&h, id, (size_t)idLen);
  SHA256_Final(inner, &h);
  h = t->outer;
  SHA256_Update(&h, inner, 32);
  SHA256_Final(mac, &h);
  memcpy(out, "ptk_", 4);
  for (int g = 0; g < 3; g++) {
    const unsigned char *b = mac + g * 5;
    uint64_t v = ((uint64_t)b[0] << 32) | ((uint64_t)b[1] << 24) | ((uint64_t)b[2] << 16) | ((uint64_t)b[3] << 8) | b[4];
    for (int k = 0; k < 8; k++) out[4 + g * 8 + k] = (unsigned char)ALPHABET[(v >> (35 - 5 * k)) & 31];
  }
  return 1;
}

/* ---- one row ---- */

static DataKey *keyFor(Conn *c, const unsigned char *id, int idLen) {
  for (int k = 0; k < c->nKeys; k++)
    if (c->keys[k].idLen == idLen && memcmp(c->keys[k].id, id, idLen) == 0) return &c->keys[k];
  return NULL;
}

static int isText(sqlite3_value *v) { return sqlite3_value_type(v) == SQLITE_TEXT; }

/*
 * The bytes of a TEXT value (the connection is UTF-8). sqlite3_value_blob, unlike
 * sqlite3_value_text, hands out the value where it lies: no copy to add a terminating NUL.
 */
static const unsigned char *textBytes(sqlite3_value *v) {
  const unsigned char *p = sqlite3_value_blob(v);
  return p ? p : (const unsigned char *)"";
}

/* Whether column text equals the literal's content (no escape, ASCII). */
static int literalIs(Scan *s, int slot, sqlite3_value *col) {
  long from = s->at[slot];
  if (from < 0 || !isText(col)) return 0;
  long n = s->at[slot + 1] - from - 2;
  const unsigned char *t = textBytes(col);
  int tn = sqlite3_value_bytes(col);
  if (tn != n) return 0;
  const unsigned char *lit = s->b + from + 1;
  for (long k = 0; k < n; k++)
    if (lit[k] >= 0x80 || lit[k] == '\\' || lit[k] != t[k]) return 0;
  return 1;
}

/* Status of one row (see the header); fills prev/hash in the entry when they are 32-byte blobs. */
static int checkRow(Conn *c, Page *pg, sqlite3_value **argv, unsigned char *entry, uint32_t *pendingAt) {
  sqlite3_value *head = argv[0], *vseq = argv[1], *vrec = argv[2], *vev = argv[3], *vsealed = argv[4], *vprev = argv[5], *vhash = argv[6];
  if (sqlite3_value_type(vprev) != SQLITE_BLOB || sqlite3_value_bytes(vprev) != 32 || sqlite3_value_type(vhash) != SQLITE_BLOB ||
      sqlite3_value_bytes(vhash) != 32)
    return 3;
  const unsigned char *prev = sqlite3_value_blob(vprev), *hash = sqlite3_value_blob(vhash);
  memcpy(entry + 16, prev, 32);
  memcpy(entry + 48, hash, 32);
  if (sqlite3_value_type(vseq) != SQLITE_INTEGER || !isText(vrec) || !isText(vev) || sqlite3_value_type(head) != SQLITE_BLOB) return 3;
  sqlite3_int64 seq = sqlite3_value_int64(vseq);
  if (seq < 0 || seq > 9007199254740991LL) return 3;
  int sealedType = sqlite3_value_type(vsealed);
  if (sealedType != SQLITE_NULL && (sealedType != SQLITE_BLOB || sqlite3_value_bytes(vsealed) == 0)) return 3;
  for (int k = 7; k <= 11; k++)
    if (!isText(argv[k])) return 3;
  int occType = sqlite3_value_type(argv[12]);
  if (occType != SQLITE_INTEGER && occType != SQLITE_FLOAT) return 3;
  int patType = sqlite3_value_type(argv[13]);
  if (patType != SQLITE_NULL && patType != SQLITE_TEXT) return 3;

  const unsigned char *ev = textBytes(vev);
  int evLen = sqlite3_value_bytes(vev);
  if (!allAscii(ev, evLen)) return 3; /* splice offsets are UTF-16 units: equal to bytes for ASCII only */
  const unsigned char *rec = textBytes(vrec);
  int recLen = sqlite3_value_bytes(vrec);
  for (int k = 0; k < recLen; k++)
    if (rec[k] < 0x20 || rec[k] > 0x7e || rec[k] == '"' || rec[k] == '\\') return 3;

  /* Open the sealed fields: keystream AES-256(IV || 2), (IV || 3) ... */
  const unsigned char *plain = NULL;
  int plainLen = 0;
  if (sealedType == SQLITE_BLOB) {
    const unsigned char *e = sqlite3_value_blob(vsealed);
    int len = sqlite3_value_bytes(vsealed);
    if (len < 2 + 12 + 16 || e[0] != 1) return 3;
    int ivAt = 2 + e[1];
    if (len < ivAt + 12 + 16) return 3;
    DataKey *key = keyFor(c, e + 2, e[1]);
    if (!key) {
      if (pg->missingKeyLen == 0 && e[1] > 0 && e[1] <= 64) {
        memcpy(pg->missingKey, e + 2, e[1]);
        pg->missingKeyLen = e[1];
      }
      return 3;
    }
    int ctAt = ivAt + 12 + 16;
    plainLen = len - ctAt;
    int blocks = (plainLen + 15) / 16;
    pg->counters.len = 0;
    pg->plain.len = 0;
    if (!reserve(&pg->counters, (size_t)blocks * 16) || !reserve(&pg->plain, (size_t)blocks * 16 + 16)) return 3;
    unsigned char *ctr = pg->counters.p;
    for (int k = 0; k < blocks; k++) {
      memcpy(ctr + k * 16, e + ivAt, 12);
      uint32_t n = (uint32_t)k + 2;
      ctr[k * 16 + 12] = n >> 24;
      ctr[k * 16 + 13] = (n >> 16) & 0xff;
      ctr[k * 16 + 14] = (n >> 8) & 0xff;
      ctr[k * 16 + 15] = n & 0xff;
    }
    int outl = 0;
    if (blocks > 0 && (EVP_EncryptUpdate(key->ecb, pg->plain.p, &outl, ctr, blocks * 16) != 1 || outl != blocks * 16)) return 3;
    for (int k = 0; k < plainLen; k++) pg->plain.p[k] ^= e[ctAt + k];
    plain = pg->plain.p;
  }

  /* prev_hash || {"chain":..,"event": || stored text with the opened values || tail */
  Buf *in = &pg->input;
  in->len = 0;
  int headLen = sqlite3_value_bytes(head);
  if (!put(in, prev, 32) || !put(in, sqlite3_value_blob(head), headLen)) return 3;
  size_t eventStart = in->len;
  int from = 0;
  for (int p = 0; p < plainLen;) {
    if (p + 8 > plainLen) return 3;
    uint32_t at = ((uint32_t)plain[p] << 24) | ((uint32_t)plain[p + 1] << 16) | ((uint32_t)plain[p + 2] << 8) | plain[p + 3];
    uint32_t len = ((uint32_t)plain[p + 4] << 24) | ((uint32_t)plain[p + 5] << 16) | ((uint32_t)plain[p + 6] << 8) | plain[p + 7];
    if ((int64_t)at < from || at > (uint32_t)evLen || (int64_t)p + 8 + len > plainLen) return 3;
    if (!put(in, ev + from, at - from) || !put(in, plain + p + 8, len)) return 3;
    from = (int)at;
    p += 8 + (int)len;
  }
  if (!put(in, ev + from, evLen - from)) return 3;
  size_t eventEnd = in->len;
  char tail[64];
  int digits = 0;
  char rev[24];
  for (sqlite3_int64 v = seq;;) {
    rev[digits++] = (char)('0' + v % 10);
    v /= 10;
    if (!v) break;
  }
  int t = 0;
  if (!put(in, ",\"receivedAt\":\"", 15) || !put(in, rec, recLen)) return 3;
  memcpy(tail, "\",\"seq\":", 8);
  t = 8;
  while (digits) tail[t++] = rev[--digits];
  tail[t++] = '}';
  if (!put(in, tail, t)) return 3;
  /* The low-level calls: OpenSSL 3's one-shot SHA256() fetches the algorithm (locks, a table look-up) each time. */
  unsigned char digest[32];
  SHA256_CTX sha;
  SHA256_Init(&sha);
  SHA256_Update(&sha, in->p, in->len);
  SHA256_Final(digest, &sha);
  if (memcmp(digest, hash, 32) != 0) return 3;

  /* The derived columns against the hashed fields. */
  Scan s;
  s.b = in->p;
  s.end = (long)eventEnd;
  for (int k = 0; k < F_SLOTS; k++) s.at[k] = -1;
  s.actorSeen = s.patientSeen = 0;
  s.escaped = 0;
  if (scanObject(&s, (long)eventStart, -1) != (long)eventEnd) return 3;
  if (!literalIs(&s, F_ID, argv[7]) || !literalIs(&s, F_CATEGORY, argv[8]) || !literalIs(&s, F_ACTION, argv[9]) ||
      !literalIs(&s, F_OUTCOME, argv[10]) || !literalIs(&s, F_ACTOR_ID, argv[11]))
    return 3;
  if (s.at[F_OCCURRED] < 0 || hasEscape(&s, F_OCCURRED)) return 3;
  double ms;
  if (!isoMillis(s.b + s.at[F_OCCURRED] + 1, s.at[F_OCCURRED + 1] - s.at[F_OCCURRED] - 2, &ms)) return 3;
  if (sqlite3_value_double(argv[12]) != ms) return 3;
  if (occType == SQLITE_INTEGER && (double)sqlite3_value_int64(argv[12]) != ms) return 3;

  if (s.at[F_PATIENT] < 0) return patType == SQLITE_NULL ? 0 : 3;
  if (patType == SQLITE_NULL || hasEscape(&s, F_PATIENT)) return 3;
  const unsigned char *id = s.b + s.at[F_PATIENT] + 1;
  int idLen = (int)(s.at[F_PATIENT + 1] - s.at[F_PATIENT] - 2);
  const unsigned char *col = textBytes(argv[13]);
  int colLen = sqlite3_value_bytes(argv[13]);
  int legacy = sealedType == SQLITE_NULL;
  if (legacy && colLen == idLen && memcmp(col, id, idLen) == 0) return 0;
  unsigned char token[TOKEN_LEN];
  if (colLen == TOKEN_LEN && patientToken(&c->token, id, idLen, token) && memcmp(col, token, TOKEN_LEN) == 0) return 0;
  if (pairKnown(c, id, idLen, col, colLen)) return 0;
  *pendingAt = (uint32_t)pg->pending.len;
  unsigned char n4[4];
  put32(n4, (uint32_t)idLen);
  put(&pg->pending, n4, 4);
  put(&pg->pending, id, idLen);
  put32(n4, (uint32_t)colLen);
  put(&pg->pending, n4, 4);
  put(&pg->pending, col, colLen);
  if (pg->pending.oom) return 3;
  return legacy ? 2 : 1;
}

static void chainStep(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Conn *c = sqlite3_user_data(ctx);
  Page **slot = sqlite3_aggregate_context(ctx, sizeof(Page *));
  if (!slot) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (!*slot) {
    *slot = calloc(1, sizeof(Page));
    if (!*slot) {
      sqlite3_result_error_nomem(ctx);
      return;
    }
    unsigned char zero[HEADER] = {0};
    put(&(*slot)->out, zero, HEADER);
  }
  Page *pg = *slot;
  if (argc != 15) return;
  if (!reserve(&pg->out, ENTRY)) return;
  unsigned char *entry = pg->out.p + pg->out.len;
  memset(entry, 0, ENTRY);
  sqlite3_int64 seq = sqlite3_value_type(argv[1]) == SQLITE_INTEGER ? sqlite3_value_int64(argv[1]) : -1;
  sqlite3_int64 pos = sqlite3_value_int64(argv[14]);
  put64(entry, seq);
  put64(entry + 8, pos);
  uint32_t pendingAt = 0;
  int status = checkRow(c, pg, argv, entry, &pendingAt);
  entry[80] = (unsigned char)status;
  put32(entry + 84, pendingAt);
  if (status < 3 && pg->rows > 0) {
    const unsigned char *before = entry - ENTRY;
    sqlite3_int64 beforeSeq = get64(before);
    if (before[80] < 3 && beforeSeq + 1 == seq && memcmp(entry + 16, before + 48, 32) == 0) entry[81] = 1;
  }
  pg->out.len += ENTRY;
  pg->rows++;
}

static void freePage(Page *pg) {
  free(pg->out.p);
  free(pg->pending.p);
  free(pg->input.p);
  free(pg->plain.p);
  free(pg->counters.p);
  free(pg);
}

static void chainFinal(sqlite3_context *ctx) {
  Page **slot = sqlite3_aggregate_context(ctx, 0);
  if (!slot || !*slot) {
    sqlite3_result_null(ctx);
    return;
  }
  Page *pg = *slot;
  *slot = NULL;
  uint32_t pendingStart = (uint32_t)pg->out.len;
  uint32_t keyAt = 0;
  put(&pg->out, pg->pending.p ? pg->pending.p : (unsigned char *)"", pg->pending.len);
  if (pg->missingKeyLen > 0) {
    keyAt = (uint32_t)pg->out.len;
    put(&pg->out, pg->missingKey, pg->missingKeyLen);
  }
  if (pg->out.oom || pg->pending.oom) {
    freePage(pg);
    sqlite3_result_error_nomem(ctx);
    return;
  }
  put32(pg->out.p, pg->rows);
  put32(pg->out.p + 4, pendingStart);
  put32(pg->out.p + 8, keyAt);
  put32(pg->out.p + 12, (uint32_t)pg->missingKeyLen);
  unsigned char *bytes = pg->out.p;
  size_t len = pg->out.len;
  pg->out.p = NULL;
  freePage(pg);
  sqlite3_result_blob64(ctx, bytes, len, free);
}

static void dataKey(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Conn *c = sqlite3_user_data(ctx);
  (void)argc;
  int idLen = sqlite3_value_bytes(argv[0]);
  const unsigned char *id = sqlite3_value_blob(argv[0]);
  if (sqlite3_value_type(argv[1]) != SQLITE_BLOB || sqlite3_value_bytes(argv[1]) != 32 || idLen < 1 || idLen > 64) {
    sqlite3_result_error(ctx, "audit_data_key: a key id of 1-64 bytes and a 32-byte key", -1);
    return;
  }
  if (keyFor(c, id, idLen)) {
    sqlite3_result_int(ctx, 0);
    return;
  }
  if (c->nKeys >= MAX_KEYS) {
    sqlite3_result_error(ctx, "audit_data_key: too many keys", -1);
    return;
  }
  EVP_CIPHER_CTX *ecb = EVP_CIPHER_CTX_new();
  if (!ecb || EVP_EncryptInit_ex(ecb, EVP_aes_256_ecb(), NULL, sqlite3_value_blob(argv[1]), NULL) != 1) {
    if (ecb) EVP_CIPHER_CTX_free(ecb);
    sqlite3_result_error(ctx, "audit_data_key: AES set-up failed", -1);
    return;
  }
  EVP_CIPHER_CTX_set_padding(ecb, 0);
  DataKey *k = &c->keys[c->nKeys++];
  memcpy(k->id, id, idLen);
  k->idLen = idLen;
  k->ecb = ecb;
  sqlite3_result_int(ctx, 1);
}

static void patientOk(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Conn *c = sqlite3_user_data(ctx);
  (void)argc;
  const unsigned char *b = sqlite3_value_blob(argv[0]);
  int n = sqlite3_value_bytes(argv[0]), added = 0;
  for (int p = 0; p + 4 <= n;) {
    uint32_t idLen, colLen;
    idLen = get32(b + p);
    if ((int64_t)p + 8 + idLen > n) break;
    colLen = get32(b + p + 4 + idLen);
    if ((int64_t)p + 8 + idLen + colLen > n) break;
    addPair(c, b + p + 4, (int)idLen, b + p + 8 + idLen, (int)colLen);
    p += 8 + (int)idLen + (int)colLen;
    added++;
  }
  sqlite3_result_int(ctx, added);
}

/* audit_token_key(key): the tokenization key, so patient tokens are computed here (set once). */
static void tokenKey(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Conn *c = sqlite3_user_data(ctx);
  (void)argc;
  int n = sqlite3_value_bytes(argv[0]);
  if (sqlite3_value_type(argv[0]) != SQLITE_BLOB || n < 32) {
    sqlite3_result_error(ctx, "audit_token_key: a key of at least 32 bytes", -1);
    return;
  }
  if (c->token.set) {
    sqlite3_result_int(ctx, 0);
    return;
  }
  setTokenKey(&c->token, sqlite3_value_blob(argv[0]), n);
  sqlite3_result_int(ctx, 1);
}

static void freeConn(void *p) {
  Conn *c = p;
  cleanse(&c->token, sizeof c->token);
  for (int k = 0; k < c->nKeys; k++) EVP_CIPHER_CTX_free(c->keys[k].ecb);
  free(c->pairs);
  free(c);
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_auditchaincheck_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
  SQLITE_EXTENSION_INIT2(api);
  Conn *c = calloc(1, sizeof(Conn));
  if (!c) return SQLITE_NOMEM;
  int rc = sqlite3_create_function_v2(db, "audit_chain_check", 15, SQLITE_UTF8, c, NULL, chainStep, chainFinal, freeConn);
  if (rc == SQLITE_OK) rc = sqlite3_create_function_v2(db, "audit_data_key", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, c, dataKey, NULL, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_create_function_v2(db, "audit_token_key", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, c, tokenKey, NULL, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_create_function_v2(db, "audit_patient_ok", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, c, patientOk, NULL, NULL, NULL);
  if (rc != SQLITE_OK && err) *err = sqlite3_mprintf("audit chain check: could not register its functions");
  return rc;
}
