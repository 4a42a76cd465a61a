// Storage: buckets and objects' metadata, Supabase Storage-compatible. Bytes never travel here:
// the gateway streams them to and from the blob store, and these messages carry what is known
// about them. Every message of the capability is listed here.
import { Schema } from "effect"
import { type Catalogue, capability } from "./Contract.ts"
import { InternalError, ValidationFailed } from "./errors.ts"
import { Done, JsonObject, Timestamp, Uuid } from "./shared.ts"

const storage = capability("storage")

/** Who asks: the policies on storage.objects decide with the role and the claims. */
export const Caller = Schema.Struct({
  role: Schema.String.annotate({ description: "anon, authenticated or service_role" }),
  claims: Schema.String.annotate({ description: "The verified JWT claims as JSON text" }),
})
export type Caller = typeof Caller.Type

// ---------------------------------------------------------------------------------------------
// Shapes, as the Storage API renders them.

export const Bucket = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  owner: Schema.String.annotate({ description: "The creator's user id; empty for a service key" }),
  public: Schema.Boolean,
  type: Schema.Literal("STANDARD"),
  file_size_limit: Schema.NullOr(Schema.Number),
  allowed_mime_types: Schema.NullOr(Schema.Array(Schema.String)),
  created_at: Timestamp,
  updated_at: Timestamp,
})
export type Bucket = typeof Bucket.Type

export const ObjectMetadata = Schema.Struct({
  eTag: Schema.String.annotate({ description: 'The blob store\'s ETag for these bytes, quoted: "…"' }),
  size: Schema.Number,
  mimetype: Schema.String,
  cacheControl: Schema.String,
  lastModified: Timestamp,
  contentLength: Schema.Number,
  httpStatusCode: Schema.Number,
})

export const StoredObject = Schema.Struct({
  id: Uuid,
  bucket_id: Schema.String,
  name: Schema.String,
  owner: Schema.NullOr(Schema.String),
  metadata: ObjectMetadata,
  user_metadata: Schema.NullOr(JsonObject),
  version: Schema.String,
  blob_key: Schema.String.annotate({ description: "Where the bytes are in the blob store" }),
  created_at: Timestamp,
  updated_at: Timestamp,
  last_accessed_at: Timestamp,
})
export type StoredObject = typeof StoredObject.Type

/** A row of a listing: an object, or a folder (null id, no metadata) standing for a common prefix. */
export const ListEntry = Schema.Struct({
  name: Schema.String,
  id: Schema.NullOr(Uuid),
  updated_at: Schema.NullOr(Timestamp),
  created_at: Schema.NullOr(Timestamp),
  last_accessed_at: Schema.NullOr(Timestamp),
  metadata: Schema.NullOr(ObjectMetadata),
})

// ---------------------------------------------------------------------------------------------
// Errors: one class, because the Storage API's error is one shape whose code says what happened.

export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  status: Schema.Int.annotate({ description: "The status the Storage API puts in the body's statusCode" }),
  code: Schema.Literals([
    "NoSuchBucket",
    "NoSuchKey",
    "ResourceAlreadyExists",
    "KeyAlreadyExists",
    "BucketNotEmpty",
    "EntityTooLarge",
    "InvalidMimeType",
    "AccessDenied",
    "InvalidKey",
    "InvalidBucketName",
    "InvalidRequest",
    "InvalidSignature",
    "InvalidRange",
    "InvalidJWT",
  ]),
  message: Schema.String,
}) {}

export const errors = {
  noSuchBucket: () => new StorageError({ status: 404, code: "NoSuchBucket", message: "Bucket not found" }),
  noSuchKey: () => new StorageError({ status: 404, code: "NoSuchKey", message: "Object not found" }),
  bucketExists: () =>
    new StorageError({ status: 409, code: "ResourceAlreadyExists", message: "The resource already exists" }),
  keyExists: () =>
    new StorageError({ status: 409, code: "KeyAlreadyExists", message: "The resource already exists" }),
  bucketNotEmpty: () =>
    new StorageError({
      status: 409,
      code: "BucketNotEmpty",
      message: "The bucket you tried to delete is not empty",
    }),
  tooLarge: () =>
    new StorageError({
      status: 413,
      code: "EntityTooLarge",
      message: "The object exceeded the maximum allowed size",
    }),
  mimeType: (type: string) =>
    new StorageError({ status: 415, code: "InvalidMimeType", message: `mime type ${type} is not supported` }),
  denied: (message = "new row violates row-level security policy") =>
    new StorageError({ status: 403, code: "AccessDenied", message }),
  invalidKey: (name: string) =>
    new StorageError({ status: 400, code: "InvalidKey", message: `Invalid key: ${name}` }),
  invalidBucketName: (name: string) =>
    new StorageError({ status: 400, code: "InvalidBucketName", message: `Bucket name invalid: ${name}` }),
  invalid: (message: string) => new StorageError({ status: 400, code: "InvalidRequest", message }),
  invalidJwt: (message: string) => new StorageError({ status: 400, code: "InvalidJWT", message }),
  signature: (message = "The signature is invalid, expired or already used") =>
    new StorageError({ status: 400, code: "InvalidSignature", message }),
  range: () =>
    new StorageError({
      status: 416,
      code: "InvalidRange",
      message: "The requested range is not satisfiable",
    }),
} as const

const failures = [StorageError, ValidationFailed, InternalError] as const

// ---------------------------------------------------------------------------------------------
// Buckets

/** What a bucket lets through: requests, events and the bucket itself carry these. */
const bucketLimits = {
  public: Schema.Boolean,
  file_size_limit: Schema.NullOr(Schema.Number).annotate({
    description: "Bytes; null for no limit of its own",
  }),
  allowed_mime_types: Schema.NullOr(Schema.Array(Schema.String)).annotate({ description: "null allows any" }),
}

/** A bucket's settings as a request gave them; `unset` names those it left out (kept, or defaulted). */
export const BucketSettings = Schema.Struct({
  ...bucketLimits,
  unset: Schema.Array(Schema.Literals(["public", "file_size_limit", "allowed_mime_types"])),
})

/** A request about one bucket that needs nothing but its id. */
const OneBucket = Schema.Struct({ caller: Caller, id: Schema.String })

export const CreateBucket = storage.command({
  name: "CreateBucket",
  description: "Create a bucket, public or private, with optional size and MIME limits",
  payload: Schema.Struct({
    caller: Caller,
    id: Schema.String,
    name: Schema.String,
    settings: BucketSettings,
  }),
  success: Schema.Struct({ name: Schema.String }),
  errors: failures,
})

export const UpdateBucket = storage.command({
  name: "UpdateBucket",
  description: "Change a bucket's visibility and limits",
  payload: Schema.Struct({ ...OneBucket.fields, settings: BucketSettings }),
  success: Done,
  errors: failures,
})

export const DeleteBucket = storage.command({
  name: "DeleteBucket",
  description: "Delete an empty bucket",
  payload: OneBucket,
  success: Done,
  errors: failures,
})

export const EmptyBucket = storage.command({
  name: "EmptyBucket",
  description: "Remove every object of a bucket the caller may delete",
  payload: OneBucket,
  success: Done,
  errors: failures,
})

export const GetBucket = storage.query({
  name: "GetBucket",
  description: "One bucket, if the caller may see it",
  payload: OneBucket,
  success: Bucket,
  errors: failures,
})

export const ListBuckets = storage.query({
  name: "ListBuckets",
  description: "The buckets the caller may see",
  payload: Schema.Struct({
    caller: Caller,
    limit: Schema.NullOr(Schema.Int),
    offset: Schema.NullOr(Schema.Int),
    search: Schema.NullOr(Schema.String),
    sort_column: Schema.NullOr(Schema.String).annotate({ description: "id, name, created_at or updated_at" }),
    sort_order: Schema.NullOr(Schema.String).annotate({ description: "asc or desc" }),
  }),
  success: Schema.Array(Bucket),
  errors: failures,
})

// ---------------------------------------------------------------------------------------------
// Objects

/** A signed upload URL's token id: good for one upload, until it expires. */
const UploadToken = Schema.NullOr(Uuid).annotate({
  description:
    "The signed upload URL's token id, when the upload comes through one; it is used up by PutObject",
})

/** Who writes which object, and whether it may replace one already there. */
const objectWrite = {
  caller: Caller,
  bucket: Schema.String,
  name: Schema.String,
  upsert: Schema.Boolean,
}

export const IssueUploadToken = storage.command({
  name: "IssueUploadToken",
  description:
    "Check that the caller may write the object, and keep a single-use token for a signed upload URL",
  payload: Schema.Struct({
    ...objectWrite,
  }),
  success: Schema.Struct({
    id: Uuid,
    owner: Schema.NullOr(Schema.String).annotate({
      description: "Who asked: the upload is recorded as theirs",
    }),
    expires_at: Timestamp,
  }),
  errors: failures,
})

export const PrepareUpload = storage.query({
  name: "PrepareUpload",
  description:
    "Before any byte is stored: whether the caller may write the object, and the limit and blob key for its bytes",
  payload: Schema.Struct({
    ...objectWrite,
    mimetype: Schema.String,
    size: Schema.NullOr(Schema.Number).annotate({ description: "Content-Length, when the client sent one" }),
    upload_token: UploadToken,
  }),
  success: Schema.Struct({
    blob_key: Schema.String,
    limit: Schema.Number.annotate({ description: "Bytes the upload may hold" }),
  }),
  errors: failures,
})

export const PutObject = storage.command({
  name: "PutObject",
  description: "Record an object whose bytes are in the blob store, creating it or replacing it",
  payload: Schema.Struct({
    ...objectWrite,
    blob_key: Schema.String,
    size: Schema.Number,
    etag: Schema.String,
    mimetype: Schema.String,
    cache_control: Schema.String,
    user_metadata: Schema.NullOr(JsonObject),
    owner: Schema.NullOr(Schema.String).annotate({
      description: "Owner to record when a signed upload URL speaks for its creator",
    }),
    upload_token: UploadToken,
  }),
  success: StoredObject,
  errors: failures,
})

export const GetObject = storage.query({
  name: "GetObject",
  description: "An object's metadata and blob key, if the caller may read it (or its bucket is public)",
  payload: Schema.Struct({
    caller: Caller,
    bucket: Schema.String,
    name: Schema.String,
    public: Schema.Boolean.annotate({
      description: "Asked through /object/public: only a public bucket serves",
    }),
  }),
  success: StoredObject,
  errors: failures,
})

export const ListObjects = storage.query({
  name: "ListObjects",
  description: "Objects and folders directly under a prefix",
  payload: Schema.Struct({
    caller: Caller,
    bucket: Schema.String,
    prefix: Schema.String,
    limit: Schema.Int,
    offset: Schema.Int,
    search: Schema.String,
    sort_column: Schema.Literals(["name", "updated_at", "created_at", "last_accessed_at"]),
    sort_order: Schema.Literals(["asc", "desc"]),
  }),
  success: Schema.Array(ListEntry),
  errors: failures,
})

export const ListObjectsV2 = storage.query({
  name: "ListObjectsV2",
  description:
    "Objects whose names start with a prefix, or with a delimiter those directly under it and its folders",
  payload: Schema.Struct({
    caller: Caller,
    bucket: Schema.String,
    prefix: Schema.String,
    limit: Schema.Int,
    offset: Schema.Int,
    with_delimiter: Schema.Boolean,
    sort_column: Schema.Literals(["name", "updated_at", "created_at"]),
    sort_order: Schema.Literals(["asc", "desc"]),
  }),
  success: Schema.Struct({
    has_next: Schema.Boolean,
    folders: Schema.Array(Schema.Struct({ name: Schema.String, key: Schema.String })),
    objects: Schema.Array(Schema.Struct({ ...ListEntry.fields, key: Schema.String })),
  }),
  errors: failures,
})

export const RemoveObjects = storage.command({
  name: "RemoveObjects",
  description: "Remove the named objects the caller may delete; returns those removed",
  payload: Schema.Struct({ caller: Caller, bucket: Schema.String, names: Schema.Array(Schema.String) }),
  success: Schema.Array(StoredObject),
  errors: failures,
})

const Relocation = Schema.Struct({
  caller: Caller,
  bucket: Schema.String,
  from: Schema.String.annotate({ description: "The source object's name" }),
  to: Schema.String.annotate({ description: "The destination's name" }),
  destination_bucket: Schema.String.annotate({
    description: "The bucket it goes to; the same one by default",
  }),
})

export const MoveObject = storage.command({
  name: "MoveObject",
  description: "Rename an object, within its bucket or into another; the bytes stay where they are",
  payload: Relocation,
  success: Done,
  errors: failures,
})

export const CopyObject = storage.command({
  name: "CopyObject",
  description: "Copy an object's bytes and metadata to a new name, within its bucket or into another",
  payload: Schema.Struct({ ...Relocation.fields, upsert: Schema.Boolean }),
  success: StoredObject,
  errors: failures,
})

// ---------------------------------------------------------------------------------------------
// Events: buckets and objects are event-sourced; storage.buckets and storage.objects follow them.

export const BucketCreated = storage.event({
  name: "BucketCreated",
  description: "A bucket was created",
  payload: Schema.Struct({
    id: Schema.String,
    name: Schema.String,
    owner: Schema.NullOr(Schema.String),
    ...bucketLimits,
    at: Timestamp,
  }),
})

export const BucketUpdated = storage.event({
  name: "BucketUpdated",
  description: "A bucket's visibility or limits changed",
  payload: Schema.Struct({
    id: Schema.String,
    ...bucketLimits,
    at: Timestamp,
  }),
})

export const BucketDeleted = storage.event({
  name: "BucketDeleted",
  description: "An empty bucket was deleted",
  payload: Schema.Struct({ id: Schema.String }),
})

export const ObjectPut = storage.event({
  name: "ObjectPut",
  description: "An object was created or replaced; its bytes are at blob_key",
  payload: Schema.Struct({
    id: Uuid,
    bucket_id: Schema.String,
    name: Schema.String,
    owner: Schema.NullOr(Schema.String),
    blob_key: Schema.String,
    replaced_blob_key: Schema.NullOr(Schema.String).annotate({
      description: "The bytes it replaced, now garbage",
    }),
    size: Schema.Number,
    etag: Schema.String,
    mimetype: Schema.String,
    cache_control: Schema.String,
    user_metadata: Schema.NullOr(JsonObject),
    at: Timestamp,
  }),
})

export const ObjectMoved = storage.event({
  name: "ObjectMoved",
  description: "An object got a new name or bucket; its bytes did not move",
  payload: Schema.Struct({ id: Uuid, bucket_id: Schema.String, name: Schema.String, at: Timestamp }),
})

export const ObjectRemoved = storage.event({
  name: "ObjectRemoved",
  description: "An object was removed; its bytes at blob_key are garbage",
  payload: Schema.Struct({
    id: Uuid,
    bucket_id: Schema.String,
    name: Schema.String,
    blob_key: Schema.String,
  }),
})

export const catalogue = {
  capability: "storage",
  commands: [
    CreateBucket,
    UpdateBucket,
    DeleteBucket,
    EmptyBucket,
    PutObject,
    RemoveObjects,
    MoveObject,
    CopyObject,
    IssueUploadToken,
  ],
  queries: [GetBucket, ListBuckets, PrepareUpload, GetObject, ListObjects, ListObjectsV2],
  events: [BucketCreated, BucketUpdated, BucketDeleted, ObjectPut, ObjectMoved, ObjectRemoved],
  errors: [StorageError],
} as const satisfies Catalogue
