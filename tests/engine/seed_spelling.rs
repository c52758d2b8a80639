//! The seed's spelling works: its `Measurements` index (examples/seed/measurements.rs, the seed's text with only
//! the crate name changed) compiles, derives `Clone`, keeps `usize` keys and stores the field marked
//! `#[infini(strategy = "infini::fields::SparseField")]` as the `Sparse` type parameter would.

mod measurements {
    include!("../../examples/seed/measurements.rs");

    use infini::fields::{Local, Sparse};
    use infini::{Error, Infinitree, Location, Repository};
    use std::sync::Arc;

    #[derive(Default, Index)]
    struct AsSparse {
        measurements: VersionedMap<usize, BigStruct, Sparse>,
    }

    #[derive(Default, Index)]
    struct AsLocal {
        measurements: VersionedMap<usize, BigStruct, Local>,
    }

    #[test]
    fn the_strategy_attribute_stores_the_field_as_the_type_parameter_would() {
        let repo = Arc::new(Repository::create_at(&Location::Memory, b"pw").unwrap());
        let mut tree = Infinitree::<Measurements>::open(repo.clone(), "main").unwrap();
        tree.index().last_time.set(5);
        tree.index().measurements.insert(usize::MAX, BigStruct);
        tree.index().measurements.insert(1, BigStruct);
        tree.commit("first").unwrap();
        // Read back through the seed's index, and through one that says Sparse in the type.
        let again = Infinitree::<Measurements>::open(repo.clone(), "main").unwrap();
        let keys: Vec<usize> = again.index().measurements.keys().collect::<Result<_, _>>().unwrap();
        assert_eq!(keys, [1, usize::MAX], "usize keys in numeric order");
        assert_eq!(again.index().last_time.get(), 5);
        let sparse = Infinitree::<AsSparse>::open(repo.clone(), "main").unwrap();
        assert!(sparse.index().measurements.get(&1).unwrap().is_some());
        // Read as Local, the stored pointers are not values: the field was stored sparse.
        let local = Infinitree::<AsLocal>::open(repo, "main").unwrap();
        let e = local.index().measurements.get(&1).err();
        assert!(matches!(e, Some(Error::TypeMismatch { .. })), "{e:?}");
    }

    #[test]
    fn the_index_derives_clone_and_a_clone_is_independent() {
        let repo = Arc::new(Repository::create_at(&Location::Memory, b"pw").unwrap());
        let mut tree = Infinitree::<Measurements>::open(repo, "main").unwrap();
        tree.index().measurements.insert(1, BigStruct);
        tree.commit("one").unwrap();
        let copy: Measurements = tree.index().clone();
        copy.measurements.insert(2, BigStruct);
        copy.last_time.set(9);
        assert!(copy.measurements.get(&1).unwrap().is_some(), "the copy sees the committed version");
        assert!(tree.index().measurements.get(&2).unwrap().is_none(), "the original does not see the copy's change");
        assert_eq!(tree.index().last_time.get(), 0);
    }
}
