use infini::{
    Index,
    fields::{Serialized, VersionedMap},
};
use serde::{Serialize,Deserialize};

#[derive(Serialize,Deserialize,Clone)]
struct BigStruct;

#[derive(Index, Default, Clone)]
pub struct Measurements {

    // Anything implementing `serde::Serialize` can be used
    // through a proxy, and stored either in the index, or in the
    // object pool through `SparseField`
    last_time: Serialized<usize>,

    // only store the keys in the index, not the values
    #[infini(strategy = "infini::fields::SparseField")]
    measurements: VersionedMap<usize, BigStruct>,
}
