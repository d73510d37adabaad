'use strict';
// Runs s3rver (npm, 3.7.1) with its filesystem store's writes made atomic, as S3's are.
//   node s3rver-atomic.js <s3rver install folder> [s3rver's own arguments...]
//
// s3rver writes an object's file in place, then its md5 and metadata files, and computes a missing md5 on a read. So,
// unlike S3, a reader racing a PutObject sees a half-written object, an empty or wrong ETag (the AWS SDK then fails
// the GET: its MD5 check of the body, or "HexStringToBytes"), and a PUT whose client went away leaves its partial body
// behind as the object, listed. The tests fail such requests on purpose (a fault proxy) while readers list and read the
// same keys (Delta logs), so they need S3's behaviour: here a PUT writes the body, md5 and metadata to temporary files
// and renames them into place, under a lock per key that reads and deletes of the key also take; a PUT whose body
// breaks off leaves nothing. Readers keep the file they opened, so a read overlapping an overwrite gets the old object
// whole.
const path = require('path');
const crypto = require('crypto');
const { Transform, pipeline } = require('stream');

const install = process.argv[2];
if (!install) {
  console.error('usage: node s3rver-atomic.js <s3rver install folder> [s3rver arguments]');
  process.exit(2);
}
const modules = path.join(path.resolve(install), 'node_modules');
const fs = require(path.join(modules, 'fs-extra'));
const FilesystemStore = require(path.join(modules, 's3rver', 'lib', 'stores', 'filesystem.js'));
const S3Object = require(path.join(modules, 's3rver', 'lib', 'models', 'object.js'));
const { pick, pickBy } = require(path.join(modules, 'lodash'));

const locks = new Map();
let temporaries = 0;

/** Runs fn alone among the calls for the same key (one s3rver process: an in-process lock is enough). */
async function locked(key, fn) {
  const before = locks.get(key) || Promise.resolve();
  let release;
  const mine = new Promise(resolve => { release = resolve; });
  const tail = before.then(() => mine);
  locks.set(key, tail);
  await before;
  try {
    return await fn();
  } finally {
    release();
    if (locks.get(key) === tail) locks.delete(key);
  }
}

const store = FilesystemStore.prototype;
const original = { getMetadata: store.getMetadata, getObject: store.getObject, deleteObject: store.deleteObject };
const keyOf = (bucket, key) => `${bucket}/${key}`;

store.getMetadata = function (bucket, key) {
  return locked(keyOf(bucket, key), () => original.getMetadata.call(this, bucket, key));
};

// The metadata read and the file opened under one hold of the lock (the original calls getMetadata: unlocked here).
store.getObject = function (bucket, key, options) {
  const unlocked = Object.create(this, { getMetadata: { value: original.getMetadata } });
  return locked(keyOf(bucket, key), () => original.getObject.call(unlocked, bucket, key, options));
};

store.deleteObject = function (bucket, key) {
  return locked(keyOf(bucket, key), () => original.deleteObject.call(this, bucket, key));
};

store.putObject = async function (object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  const md5Path = this.getResourcePath(object.bucket, object.key, 'object.md5');
  const metadataPath = this.getResourcePath(object.bucket, object.key, 'metadata.json');
  await fs.mkdirp(path.dirname(objectPath));
  // Not listed: listObjects takes only names that end in "._S3rver_object".
  const temporary = `${objectPath}.${process.pid}-${++temporaries}.tmp`;
  const [md5Temporary, metadataTemporary] = [`${temporary}.md5`, `${temporary}.metadata`];
  try {
    const md5Context = crypto.createHash('md5');
    let size = 0;
    if (Buffer.isBuffer(object.content)) {
      await fs.writeFile(temporary, object.content);
      md5Context.update(object.content);
      size = object.content.length;
    } else {
      // pipeline() fails when the body breaks off (the client went away), where s3rver's pipe() waited forever.
      await new Promise((resolve, reject) => pipeline(
        object.content,
        new Transform({
          transform(chunk, encoding, callback) {
            md5Context.update(chunk, encoding);
            size += chunk.length;
            callback(null, chunk);
          },
        }),
        fs.createWriteStream(temporary),
        err => (err ? reject(err) : resolve())));
    }
    const md5 = md5Context.digest('hex');
    // The same metadata s3rver's putMetadata keeps.
    const json = {
      ...pick(object.metadata, S3Object.ALLOWED_METADATA),
      ...pickBy(object.metadata, (value, name) => name.startsWith('x-amz-meta-')),
    };
    await fs.writeFile(md5Temporary, md5);
    await fs.writeFile(metadataTemporary, JSON.stringify(json, null, 2));
    await locked(keyOf(object.bucket, object.key), async () => {
      await fs.rename(md5Temporary, md5Path);
      await fs.rename(metadataTemporary, metadataPath);
      await fs.rename(temporary, objectPath);
    });
    return { size, md5 };
  } finally {
    await Promise.all([temporary, md5Temporary, metadataTemporary].map(f => fs.unlink(f).catch(() => {})));
  }
};

// s3rver's command line, with the arguments after the install folder.
process.argv.splice(2, 1);
require(path.join(modules, 's3rver', 'bin', 's3rver.js'));
