from ethoprism.cli import main

main()
