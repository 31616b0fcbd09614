//! A writer for bbolt (BoltDB) files, enough for a read-only consumer such as Trivy.
//!
//! Layout written (page size 4096, little-endian): pages 0 and 1 are meta pages, page 2 an
//! empty freelist, then one leaf page run per bucket, children before parents so that every
//! nested-bucket value can name its child's page. Keys are written sorted bytewise (a
//! `BTreeMap` keeps them so). A leaf that outgrows a page spans contiguous overflow pages; one
//! leaf holds at most 65,535 keys (the page header's `count` is a u16).

use std::collections::BTreeMap;

/// Page size of the files written.
pub const PAGE: usize = 4096;
const META_FLAG: u16 = 0x04;
const LEAF_FLAG: u16 = 0x02;
const FREELIST_FLAG: u16 = 0x10;
const BUCKET_LEAF: u32 = 0x01;

/// A bucket: sorted keys, each a value or a nested bucket.
pub type Bucket = BTreeMap<Vec<u8>, Node>;

/// A bucket entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A plain value.
    Value(Vec<u8>),
    /// A nested bucket.
    Bucket(Bucket),
}

/// Serialises `root` (the unnamed root bucket) into the bytes of a bbolt file.
pub fn write(root: &Bucket) -> Result<Vec<u8>, String> {
    let mut pages: Vec<u8> = vec![0; 3 * PAGE];
    let root_page = write_bucket(root, &mut pages)?;
    let page_count = (pages.len() / PAGE) as u64;
    for (i, txid) in [(0usize, 0u64), (1, 1)] {
        let p = &mut pages[i * PAGE..(i + 1) * PAGE];
        header(p, i as u64, META_FLAG, 0, 0);
        let mut m = Vec::with_capacity(64);
        m.extend_from_slice(&0xED0C_DAEDu32.to_le_bytes());
        m.extend_from_slice(&2u32.to_le_bytes());
        m.extend_from_slice(&(PAGE as u32).to_le_bytes());
        m.extend_from_slice(&0u32.to_le_bytes());
        m.extend_from_slice(&root_page.to_le_bytes());
        m.extend_from_slice(&0u64.to_le_bytes());
        m.extend_from_slice(&2u64.to_le_bytes());
        m.extend_from_slice(&page_count.to_le_bytes());
        m.extend_from_slice(&txid.to_le_bytes());
        let sum = fnv1a64(&m);
        m.extend_from_slice(&sum.to_le_bytes());
        p[16..16 + m.len()].copy_from_slice(&m);
    }
    header(&mut pages[2 * PAGE..3 * PAGE], 2, FREELIST_FLAG, 0, 0);
    Ok(pages)
}

/// Appends the bucket's leaf (after its children) and returns its first page id.
fn write_bucket(bucket: &Bucket, pages: &mut Vec<u8>) -> Result<u64, String> {
    if bucket.len() > u16::MAX as usize {
        return Err(format!(
            "a bucket holds {} keys; at most 65535 fit one leaf",
            bucket.len()
        ));
    }
    let mut entries: Vec<(&[u8], u32, Vec<u8>)> = Vec::with_capacity(bucket.len());
    for (key, node) in bucket {
        match node {
            Node::Value(v) => entries.push((key, 0, v.clone())),
            Node::Bucket(child) => {
                let child_page = write_bucket(child, pages)?;
                let mut v = child_page.to_le_bytes().to_vec();
                v.extend_from_slice(&0u64.to_le_bytes());
                entries.push((key, BUCKET_LEAF, v));
            }
        }
    }
    let data: usize = entries.iter().map(|(k, _, v)| k.len() + v.len()).sum();
    let size = 16 + 16 * entries.len() + data;
    let count = size.div_ceil(PAGE).max(1);
    let first = (pages.len() / PAGE) as u64;
    let start = pages.len();
    pages.resize(start + count * PAGE, 0);
    let p = &mut pages[start..];
    header(
        p,
        first,
        LEAF_FLAG,
        entries.len() as u16,
        (count - 1) as u32,
    );
    let mut data_at = 16 + 16 * entries.len();
    for (i, (key, flags, value)) in entries.iter().enumerate() {
        let el = 16 + 16 * i;
        p[el..el + 4].copy_from_slice(&flags.to_le_bytes());
        p[el + 4..el + 8].copy_from_slice(&((data_at - el) as u32).to_le_bytes());
        p[el + 8..el + 12].copy_from_slice(&(key.len() as u32).to_le_bytes());
        p[el + 12..el + 16].copy_from_slice(&(value.len() as u32).to_le_bytes());
        p[data_at..data_at + key.len()].copy_from_slice(key);
        data_at += key.len();
        p[data_at..data_at + value.len()].copy_from_slice(value);
        data_at += value.len();
    }
    Ok(first)
}

fn header(page: &mut [u8], id: u64, flags: u16, count: u16, overflow: u32) {
    page[0..8].copy_from_slice(&id.to_le_bytes());
    page[8..10].copy_from_slice(&flags.to_le_bytes());
    page[10..12].copy_from_slice(&count.to_le_bytes());
    page[12..16].copy_from_slice(&overflow.to_le_bytes());
}

/// FNV-1a, 64 bit (bbolt's meta checksum).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_pages_carry_magic_root_and_a_valid_checksum() {
        let mut root = Bucket::new();
        let mut child = Bucket::new();
        child.insert(b"k".to_vec(), Node::Value(b"v".to_vec()));
        root.insert(b"b".to_vec(), Node::Bucket(child));
        let bytes = write(&root).unwrap();
        assert_eq!(
            bytes.len(),
            5 * PAGE,
            "meta, meta, freelist, child leaf, root leaf"
        );
        let meta = &bytes[PAGE..2 * PAGE];
        assert_eq!(&meta[16..20], &0xED0C_DAEDu32.to_le_bytes());
        assert_eq!(
            u64::from_le_bytes(meta[32..40].try_into().unwrap()),
            4,
            "root leaf page"
        );
        let sum = u64::from_le_bytes(meta[72..80].try_into().unwrap());
        assert_eq!(sum, fnv1a64(&meta[16..72]));
        // the root's element points at the child's page
        let root_leaf = &bytes[4 * PAGE..];
        assert_eq!(u16::from_le_bytes(root_leaf[10..12].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_le_bytes(root_leaf[16..20].try_into().unwrap()),
            BUCKET_LEAF
        );
    }

    #[test]
    fn a_large_bucket_spans_overflow_pages() {
        let mut root = Bucket::new();
        for i in 0..3000u32 {
            root.insert(
                format!("key-{i:05}").into_bytes(),
                Node::Value(vec![b'x'; 20]),
            );
        }
        let bytes = write(&root).unwrap();
        let leaf = &bytes[3 * PAGE..];
        let overflow = u32::from_le_bytes(leaf[12..16].try_into().unwrap());
        assert_eq!(bytes.len(), (3 + 1 + overflow as usize) * PAGE);
        assert!(overflow > 10);
    }
}
