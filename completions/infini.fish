complete --keep-order --exclusive --command infini --arguments "(COMPLETE=fish infini -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
